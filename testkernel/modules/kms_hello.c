// SPDX-License-Identifier: GPL-2.0
/* kmodseal test kit: the simplest module, no imports of its own. */
#include <linux/init.h>
#include <linux/module.h>

static int __init kms_hello_init(void)
{
	pr_info("kms_hello: loaded\n");
	return 0;
}
module_init(kms_hello_init);

static void __exit kms_hello_exit(void)
{
	pr_info("kms_hello: unloaded\n");
}
module_exit(kms_hello_exit);

MODULE_DESCRIPTION("kmodseal test module (no dependencies)");
MODULE_LICENSE("GPL");
