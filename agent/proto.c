/*
 * proto.c — frames of the agent protocol (proto.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int frame_parse(struct frame *f, uint16_t type, uint16_t flags, uint32_t id, uint8_t *body, size_t len)
{
	f->type = type;
	f->flags = flags;
	f->id = id;
	f->nkv = 0;
	size_t at = 0;
	for (;;) {
		uint8_t *nul = memchr(body + at, 0, len - at);
		if (!nul)
			return -1;
		size_t n = (size_t)(nul - (body + at));
		if (n == 0) {
			at++;
			break;
		}
		char *eq = memchr(body + at, '=', n);
		if (!eq || f->nkv == KV_MAX)
			return -1;
		*eq = 0;
		f->kv[f->nkv].key = (const char *)body + at;
		f->kv[f->nkv].value = eq + 1;
		f->nkv++;
		at += n + 1;
		if (at >= len)
			return -1;
	}
	f->data = body + at;
	f->data_len = len - at;
	return 0;
}

const char *frame_get(const struct frame *f, const char *key)
{
	for (int i = 0; i < f->nkv; i++)
		if (!strcmp(f->kv[i].key, key))
			return f->kv[i].value;
	return NULL;
}

static int ob_room(struct outbuf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

static size_t frame_start;

int ob_begin(struct outbuf *b, uint16_t type, uint32_t id)
{
	if (ob_room(b, 12) < 0)
		return -1;
	frame_start = b->len;
	uint8_t *h = b->data + b->len;
	memset(h, 0, 12);
	memcpy(h + 4, &type, 2);
	memcpy(h + 8, &id, 4);
	b->len += 12;
	return 0;
}

int ob_kv(struct outbuf *b, const char *key, const char *value)
{
	size_t k = strlen(key), v = strlen(value);
	if (ob_room(b, k + v + 2) < 0)
		return -1;
	memcpy(b->data + b->len, key, k);
	b->data[b->len + k] = '=';
	memcpy(b->data + b->len + k + 1, value, v);
	b->data[b->len + k + 1 + v] = 0;
	b->len += k + v + 2;
	return 0;
}

int ob_kvf(struct outbuf *b, const char *key, const char *fmt, ...)
{
	char v[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	return ob_kv(b, key, v);
}

int ob_end(struct outbuf *b, const void *data, size_t len)
{
	if (ob_room(b, 1 + len) < 0)
		return -1;
	b->data[b->len++] = 0;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	uint32_t flen = (uint32_t)(b->len - frame_start - 4);
	memcpy(b->data + frame_start, &flen, 4);
	return 0;
}
