{
  "targets": [
    {
      "target_name": "kmodseal_xz",
      "sources": ["xz.c"],
      "cflags": ["-O2"],
      "libraries": ["-llzma"]
    }
  ]
}
