/*
 * proto_check.c — the agent's frame code against the shim's
 * (test/sandbox/xen-agent-protocol.test.ts): reads frames on stdin and
 * prints one line per frame ("type id key=value;... data=HEX"), then writes
 * two frames built with ob_* to stdout after a line "FRAMES".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int main(void)
{
	static uint8_t in[1 << 21];
	size_t n = fread(in, 1, sizeof(in), stdin), at = 0;
	while (n - at >= 12) {
		uint32_t len;
		uint16_t type, flags;
		uint32_t id;
		memcpy(&len, in + at, 4);
		memcpy(&type, in + at + 4, 2);
		memcpy(&flags, in + at + 6, 2);
		memcpy(&id, in + at + 8, 4);
		if (len < 8 || n - at < 4 + (size_t)len) {
			printf("BAD\n");
			return 1;
		}
		static struct frame f;
		if (frame_parse(&f, type, flags, id, in + at + 12, len - 8) < 0) {
			printf("MALFORMED\n");
		} else {
			printf("%u %u ", f.type, f.id);
			for (int i = 0; i < f.nkv; i++)
				printf("%s%s=%s", i ? ";" : "", f.kv[i].key, f.kv[i].value);
			printf(" data=");
			for (size_t i = 0; i < f.data_len; i++)
				printf("%02x", f.data[i]);
			printf("\n");
		}
		at += 4 + (size_t)len;
	}
	printf("FRAMES\n");
	fflush(stdout);
	struct outbuf b = { 0 };
	ob_begin(&b, MSG_EXIT, 0);
	ob_kv(&b, "cid", "c1");
	ob_kv(&b, "eid", "");
	ob_kvf(&b, "status", "%d", 137);
	ob_end(&b, NULL, 0);
	ob_begin(&b, MSG_OUTPUT, 0);
	ob_kv(&b, "cid", "c1");
	ob_kv(&b, "fd", "2");
	ob_end(&b, "\0\1hello\n", 8);
	fwrite(b.data, 1, b.len, stdout);
	return 0;
}
