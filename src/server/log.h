/**
 * @file log.h
 * @brief groved's log: one line per event on stderr, with a UTC timestamp.
 */
#ifndef GROVE_SERVER_LOG_H
#define GROVE_SERVER_LOG_H

/** @brief Write one formatted line (no trailing newline needed). */
__attribute__((format(printf, 1, 2))) void log_line(const char *fmt, ...);

#endif
