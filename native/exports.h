/* The one way kmodseal's addons put their functions on `exports` (shared by io.c and crypto.c). */
#ifndef KMODSEAL_EXPORTS_H
#define KMODSEAL_EXPORTS_H
#include <node_api.h>
#include <stddef.h>

struct kmodseal_fn {
  const char *name;
  napi_callback cb;
};

static inline napi_value kmodseal_export(napi_env env, napi_value exports, const struct kmodseal_fn *fns, size_t n) {
  for (size_t i = 0; i < n; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  return exports;
}
#endif
