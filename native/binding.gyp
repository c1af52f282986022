{
  "variables": { "with_xz%": 1, "with_crypto%": 1, "liblzma_static%": "", "libcrypto_path%": "" },
  "targets": [{
    "target_name": "kmodseal_io",
    "sources": ["io.c"],
    "cflags": ["-O2"]
  }, {
    "target_name": "kmodseal_modinfo",
    "sources": ["modinfo.c"],
    "cflags": ["-O2", "-Wall", "-Wextra"],
    "libraries": ["-lpthread"]
  }],
  "conditions": [
    ["with_xz==1", { "targets": [{
      "target_name": "kmodseal_xz",
      "sources": ["xz.c"],
      "cflags": ["-O2"],
      "libraries": ["-llzma"]
    }] }],
    ["liblzma_static!=''", { "targets": [{
      "target_name": "kmodseal_unxz",
      "sources": ["xz.c"],
      "defines": ["KMODSEAL_DECODE_ONLY", "LZMA_API_STATIC"],
      "include_dirs": ["<(liblzma_static)/include"],
      "cflags": ["-O2"],
      "libraries": ["<(liblzma_static)/lib/liblzma.a"],
      "ldflags": ["-Wl,--exclude-libs,ALL"]
    }] }],
    ["with_crypto==1", { "targets": [{
      "target_name": "kmodseal_crypto",
      "sources": ["crypto.c"],
      "cflags": ["-O2"],
      "libraries": ["-ldl", "-lpthread"]
    }] }],
    ["with_crypto==1 and libcrypto_path!=''", { "targets": [{
      "target_name": "kmodseal_crypto_new",
      "sources": ["crypto.c"],
      "defines": ["KMODSEAL_LIBCRYPTO=\"<(libcrypto_path)\""],
      "cflags": ["-O2"],
      "libraries": ["-ldl", "-lpthread"]
    }] }]
  ]
}
