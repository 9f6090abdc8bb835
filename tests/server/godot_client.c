#include "godot_client.h"

#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <cmocka.h>

#include "godot/variant_binary.h"
#include "src/common/error.h"

void godot_connect(struct godot *g, int port, int major)
{
	g->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	assert_int_equal(connect(g->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	g->major = major;
	memset(&g->in, 0, sizeof(g->in));
	g->holding = false;
}

void godot_close(struct godot *g)
{
	close(g->fd);
	grove_buf_free(&g->in);
	if (g->holding)
		variant_free(&g->held);
}

void godot_dict(struct variant *d, ...)
{
	assert_int_equal(variant_set_dict(d), GROVE_OK);
	va_list ap;
	va_start(ap, d);
	for (const char *k; (k = va_arg(ap, const char *));) {
		const char *spec = va_arg(ap, const char *);
		struct variant key, value;
		variant_set_string(&key, VARIANT_STRING, k, strlen(k));
		if (spec[0] == 's')
			variant_set_string(&value, VARIANT_STRING, spec + 2, strlen(spec + 2));
		else if (spec[0] == 'i')
			variant_set_int(&value, strtoll(spec + 2, NULL, 10));
		else
			value = *va_arg(ap, struct variant *);
		assert_int_equal(variant_dict_put(d, &key, &value), GROVE_OK);
	}
	va_end(ap);
}

void godot_send(struct godot *g, struct variant *msg)
{
	struct grove_buf b = {0};
	assert_int_equal(godot_packet_encode(msg, g->major, &b), GROVE_OK);
	assert_int_equal(send(g->fd, b.data, b.len, MSG_NOSIGNAL), (ssize_t)b.len);
	grove_buf_free(&b);
	variant_free(msg);
}

bool godot_receive(struct godot *g, struct variant *msg)
{
	for (;;) {
		size_t used;
		int err = godot_packet_decode(msg, g->major, g->in.data, g->in.len, &used);
		if (!err) {
			g->frame_bytes = used;
			memmove(g->in.data, g->in.data + used, g->in.len - used);
			g->in.len -= used;
			return true;
		}
		assert_int_equal(err, GROVE_ENOTFOUND);
		struct pollfd pfd = {.fd = g->fd, .events = POLLIN};
		if (poll(&pfd, 1, 5000) != 1)
			return false;
		uint8_t chunk[65536];
		ssize_t n = recv(g->fd, chunk, sizeof(chunk), 0);
		if (n <= 0)
			return false;
		grove_buf_put(&g->in, chunk, (size_t)n);
	}
}

const struct variant *godot_field(const struct variant *d, const char *key)
{
	for (uint32_t i = 0; d->type == VARIANT_DICTIONARY && i < d->as.dict->len; i++)
		if (strcmp(d->as.dict->keys[i].as.str.ptr, key) == 0)
			return &d->as.dict->values[i];
	return NULL;
}

const char *godot_op_of(const struct variant *d)
{
	const struct variant *op = godot_field(d, "op");
	return op ? op->as.str.ptr : "";
}

void godot_expect(struct godot *g, const char *op, struct variant *msg)
{
	if (g->holding && strcmp(op, "changes") == 0) {
		*msg = g->held;
		g->holding = false;
		return;
	}
	for (;;) {
		assert_true(godot_receive(g, msg));
		if (strcmp(godot_op_of(msg), op) == 0)
			return;
		variant_free(msg);
	}
}

void godot_hello(struct godot *g, int port, int major)
{
	godot_connect(g, port, major);
	struct variant m;
	char godot[16];
	snprintf(godot, sizeof(godot), "i:%d", major);
	godot_dict(&m, "op", "s:hello", "godot", godot, "token", "s:", "client", "s:test", NULL);
	godot_send(g, &m);
	godot_expect(g, "welcome", &m);
	variant_free(&m);
}

void godot_send_ops(struct godot *g, const char *key, struct variant *ops)
{
	struct variant m;
	char k[160];
	snprintf(k, sizeof(k), "s:%s", key);
	godot_dict(&m, "op", "s:submit", "key", k, "ops", "v:", ops, NULL);
	godot_send(g, &m);
}

void godot_answer(struct godot *g, struct variant *answer)
{
	for (;;) {
		assert_true(godot_receive(g, answer));
		if (strcmp(godot_op_of(answer), "submitted") == 0 || strcmp(godot_op_of(answer), "refused") == 0)
			return;
		/* The change and the answer to its submit may come in either order. */
		if (strcmp(godot_op_of(answer), "changes") == 0 && !g->holding) {
			g->held = *answer;
			g->holding = true;
			continue;
		}
		variant_free(answer);
	}
}
