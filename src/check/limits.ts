/** kernel_read_file()'s limit for a module file: finit_module() reads at most INT_MAX bytes (fs/kernel_read_file.c). */
export const MODULE_FILE_MAX = 0x7fffffff;
