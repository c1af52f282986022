/*
 * Test oracle for distilled base BTF, linked against the libbpf of the kernel's own source
 * tree (tools/lib/bpf of Debian's linux-source-6.12: the kernel builds the very same
 * btf_relocate.c into kernel/bpf/btf_relocate.c). Built by scripts/build-btf-oracle.sh.
 *
 *   btf-oracle distill MODULE.ko VMLINUX OUT_BASE OUT_SPLIT
 *       split BTF of MODULE on VMLINUX's BTF -> btf__distill_base() -> raw .BTF.base / .BTF
 *       (what pahole --btf_features=distilled_base writes into an out-of-tree module)
 *   btf-oracle relocate DIST_BASE SPLIT VMLINUX OUT_SPLIT
 *       raw distilled base + raw split BTF -> btf__relocate() onto VMLINUX's BTF; prints
 *       "ok" or "error <errno>" on stdout, libbpf's warnings on stderr, and on success
 *       writes the relocated split BTF (raw) to OUT_SPLIT
 *
 * VMLINUX is an ELF with .BTF or raw BTF. Exit status: 0 when the command ran (whatever the
 * relocation verdict), 1 on usage or I/O errors.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int write_raw(const struct btf *btf, const char *path)
{
	__u32 size;
	const void *data = btf__raw_data(btf, &size);
	FILE *f;

	if (!data) {
		fprintf(stderr, "btf-oracle: no raw data for %s\n", path);
		return -1;
	}
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f)) {
		fprintf(stderr, "btf-oracle: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	libbpf_set_print(print_fn);
	if (argc == 6 && !strcmp(argv[1], "distill")) {
		struct btf *vmlinux = btf__parse(argv[3], NULL), *split, *nbase = NULL, *nsplit = NULL;
		int err;

		if (!vmlinux) {
			fprintf(stderr, "btf-oracle: %s: %s\n", argv[3], strerror(errno));
			return 1;
		}
		split = btf__parse_split(argv[2], vmlinux);
		if (!split) {
			fprintf(stderr, "btf-oracle: %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		err = btf__distill_base(split, &nbase, &nsplit);
		if (err) {
			fprintf(stderr, "btf-oracle: distill %s: %s\n", argv[2], strerror(-err));
			return 1;
		}
		if (write_raw(nbase, argv[4]) || write_raw(nsplit, argv[5]))
			return 1;
		return 0;
	}
	if (argc == 6 && !strcmp(argv[1], "relocate")) {
		struct btf *dist = btf__parse_raw(argv[2]), *split, *vmlinux;
		int err;

		if (!dist) {
			fprintf(stderr, "btf-oracle: %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		split = btf__parse_raw_split(argv[3], dist);
		if (!split) {
			fprintf(stderr, "btf-oracle: %s: %s\n", argv[3], strerror(errno));
			return 1;
		}
		vmlinux = btf__parse(argv[4], NULL);
		if (!vmlinux) {
			fprintf(stderr, "btf-oracle: %s: %s\n", argv[4], strerror(errno));
			return 1;
		}
		err = btf__relocate(split, vmlinux);
		if (err) {
			printf("error %d\n", -err);
			return 0;
		}
		if (write_raw(split, argv[5]))
			return 1;
		printf("ok\n");
		return 0;
	}
	fprintf(stderr, "usage: btf-oracle distill MODULE VMLINUX OUT_BASE OUT_SPLIT\n"
			"       btf-oracle relocate DIST_BASE SPLIT VMLINUX OUT_SPLIT\n");
	return 1;
}
