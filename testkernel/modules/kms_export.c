// SPDX-License-Identifier: GPL-2.0
/* kmodseal test kit: exports kms_answer (GPL-only, with a modversions CRC). */
#include <linux/init.h>
#include <linux/module.h>

int kms_answer(int x);

int kms_answer(int x)
{
	return 42 + x;
}
EXPORT_SYMBOL_GPL(kms_answer);

static int __init kms_export_init(void)
{
	pr_info("kms_export: loaded\n");
	return 0;
}
module_init(kms_export_init);

static void __exit kms_export_exit(void)
{
}
module_exit(kms_export_exit);

MODULE_DESCRIPTION("kmodseal test module (exports kms_answer)");
MODULE_LICENSE("GPL");
