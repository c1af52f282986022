{
  "variables": { "with_xz%": 1, "with_crypto%": 1 },
  "targets": [],
  "conditions": [
    ["with_xz==1", { "targets": [{
      "target_name": "kmodseal_xz",
      "sources": ["xz.c"],
      "cflags": ["-O2"],
      "libraries": ["-llzma"]
    }] }],
    ["with_crypto==1", { "targets": [{
      "target_name": "kmodseal_crypto",
      "sources": ["crypto.c"],
      "cflags": ["-O2"],
      "libraries": ["-ldl", "-lpthread"]
    }] }]
  ]
}
