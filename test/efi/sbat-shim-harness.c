/*
 * Runs shim's own SBAT parsers on files: test/efi/sbat.test.ts compiles this with the functions it
 * cuts out of Debian's shim source (csv.c; include/str.h: strnchrnul(), strntoken(),
 * is_utf8_bom(), struct csv_row; parse_sbat_section() and parse_sbat_var_data() of sbat.c), so that kmodseal's
 * parser is compared with the C that shim runs. This file only provides what those functions need
 * from shim's environment (lists, pools, types) and prints their result.
 *
 *   harness section FILE...   each FILE as .sbat data (shim appends a NUL, as verify_sbat_section())
 *   harness level FILE...     each FILE as an SbatLevel payload (parse_sbat_var_data(), NUL appended)
 *
 * Output per file: "ERROR" or "OK N" and one line per entry, fields joined by '|'; then "--".
 */
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned char CHAR8;
typedef unsigned char UINT8;
typedef size_t UINTN;
typedef int BOOLEAN;
typedef unsigned long EFI_STATUS;
#define EFI_SUCCESS 0
#define EFI_INVALID_PARAMETER 2
#define EFI_OUT_OF_RESOURCES 9
#define EFI_ERROR(x) ((x) != 0)
#define UNUSED __attribute__((unused))
#define RETURNS_NONNULL
#define NONNULL(...)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define dprint(...) do { } while (0)
#define AllocateZeroPool(n) calloc(1, (n))
#define FreePool free
#define CompareMem memcmp

typedef struct list_head { struct list_head *next, *prev; } list_t;
#define INIT_LIST_HEAD(ptr) do { (ptr)->next = (ptr); (ptr)->prev = (ptr); } while (0)
#define list_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define list_for_each(pos, head) for (pos = (head)->next; pos != (head); pos = pos->next)
#define list_for_each_safe(pos, n, head) for (pos = (head)->next, n = pos->next; pos != (head); pos = n, n = pos->next)
static inline void list_add_tail(list_t *new, list_t *head)
{
	new->prev = head->prev; new->next = head; head->prev->next = new; head->prev = new;
}
static inline void list_del(list_t *e) { e->prev->next = e->next; e->next->prev = e->prev; }

struct sbat_section_entry {
	const CHAR8 *component_name, *component_generation, *vendor_name, *vendor_package_name,
		*vendor_version, *vendor_url;
};
#define SBAT_SECTION_COLUMNS (sizeof(struct sbat_section_entry) / sizeof(CHAR8 *))
struct sbat_var_entry {
	const CHAR8 *component_name, *component_generation, *sbat_datestamp;
	list_t list;
};
#define SBAT_VAR_COLUMNS ((sizeof(struct sbat_var_entry) - sizeof(list_t)) / sizeof(CHAR8 *))
#define SBAT_VAR_REQUIRED_COLUMNS (SBAT_VAR_COLUMNS - 1)

#include "shim-str.h"
#include "shim-csv.c"
#include "shim-sbat.c"

int main(int argc, char **argv)
{
	for (int a = 2; a < argc; a++) {
		FILE *f = fopen(argv[a], "rb");
		if (!f) return 2;
		static char buf[1 << 22];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		char *d = malloc(n + 1);
		memcpy(d, buf, n);
		d[n] = 0;
		if (strcmp(argv[1], "section") == 0) {
			size_t cnt = 0;
			struct sbat_section_entry **e = NULL;
			if (n == 0 || parse_sbat_section(d, n + 1, &cnt, &e)) {
				printf("ERROR\n--\n");
				continue;
			}
			printf("OK %zu\n", cnt);
			for (size_t i = 0; i < cnt; i++)
				printf("%s|%s|%s|%s|%s|%s\n", e[i]->component_name, e[i]->component_generation,
				       e[i]->vendor_name, e[i]->vendor_package_name, e[i]->vendor_version, e[i]->vendor_url);
		} else {
			list_t l, *pos;
			size_t cnt = 0;
			INIT_LIST_HEAD(&l);
			if (parse_sbat_var_data(&l, (UINT8 *)d, n + 1)) {
				printf("ERROR\n--\n");
				continue;
			}
			list_for_each(pos, &l) cnt++;
			printf("OK %zu\n", cnt);
			list_for_each(pos, &l) {
				struct sbat_var_entry *e = list_entry(pos, struct sbat_var_entry, list);
				printf("%s|%s|%s\n", e->component_name, e->component_generation,
				       e->sbat_datestamp ? (const char *)e->sbat_datestamp : "-");
			}
		}
		printf("--\n");
	}
	return 0;
}
