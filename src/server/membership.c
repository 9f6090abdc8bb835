#include "src/server/membership.h"

#include <stdlib.h>
#include <string.h>

#include "src/common/bytes.h"
#include "src/common/error.h"
#include "src/server/entrystamp.h"

int membership_parse(const char *spec, struct membership *book)
{
	memset(book, 0, sizeof(*book));
	const char *p = spec;
	while (*p) {
		char *end;
		unsigned long long id = strtoull(p, &end, 10);
		if (id == 0 || *end != '=')
			return GROVE_EINVAL;
		p = end + 1;
		size_t n = strcspn(p, ",");
		if (membership_find(book, id) || !membership_add(book, id, p, n))
			return GROVE_EINVAL;
		p += n;
		if (*p == ',')
			p++;
	}
	return book->n ? GROVE_OK : GROVE_EINVAL;
}

const struct member *membership_find(const struct membership *book, uint64_t id)
{
	for (size_t i = 0; i < book->n; i++)
		if (book->members[i].id == id)
			return &book->members[i];
	return NULL;
}

bool membership_add(struct membership *book, uint64_t id, const char *address, size_t len)
{
	if (id == 0 || membership_find(book, id) || book->n == RAFT_MAX_MEMBERS || len == 0 ||
	    len > MEMBER_ADDRESS_MAX || !memchr(address, ':', len) || memchr(address, '\0', len))
		return false;
	struct member *m = &book->members[book->n++];
	m->id = id;
	memcpy(m->address, address, len);
	m->address[len] = '\0';
	return true;
}

size_t membership_encode_change(const struct raft_conf_change *cc, const char *address, uint8_t *out)
{
	raft_encode_conf_change(cc, out);
	size_t len = address ? strlen(address) : 0;
	if (len > MEMBER_ADDRESS_MAX)
		len = 0;
	memcpy(out + 9, address ? address : "", len);
	return 9 + len;
}

bool membership_change_address(const uint8_t *data, size_t len, uint64_t *id, char address[MEMBER_ADDRESS_MAX + 1])
{
	size_t at = 9;
	if (len >= at + ENTRY_STAMP_BYTES && data[at] == ENTRY_STAMP_MARK)
		at += ENTRY_STAMP_BYTES; /* stamped by its leader (entrystamp.h) */
	if (len <= at || len > at + MEMBER_ADDRESS_MAX)
		return false;
	*id = get_le64(data + 1);
	memcpy(address, data + at, len - at);
	address[len - at] = '\0';
	return strlen(address) == len - at && strchr(address, ':');
}

bool membership_same_endpoint(const char *listen, const char *address)
{
	const char *a = strrchr(listen, ':'), *b = strrchr(address, ':');
	if (!a || !b || strcmp(a, b) != 0)
		return false;
	size_t host = (size_t)(a - listen);
	return (host == (size_t)(b - address) && memcmp(listen, address, host) == 0) ||
	       (host == 7 && memcmp(listen, "0.0.0.0", 7) == 0);
}
