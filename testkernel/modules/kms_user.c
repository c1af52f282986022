// SPDX-License-Identifier: GPL-2.0
/* kmodseal test kit: imports kms_answer from kms_export, so it depends on it. */
#include <linux/init.h>
#include <linux/module.h>

int kms_answer(int x);

static int __init kms_user_init(void)
{
	pr_info("kms_user: kms_answer(0) = %d\n", kms_answer(0));
	return 0;
}
module_init(kms_user_init);

static void __exit kms_user_exit(void)
{
}
module_exit(kms_user_exit);

MODULE_DESCRIPTION("kmodseal test module (uses kms_answer from kms_export)");
MODULE_LICENSE("GPL");
