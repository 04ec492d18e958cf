package main

import (
	"debug/elf"
	"fmt"
)

// elfArch maps ELF machines to Go architecture names.
var elfArch = map[elf.Machine]string{
	elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64", elf.EM_386: "386", elf.EM_ARM: "arm",
	elf.EM_RISCV: "riscv64", elf.EM_PPC64: "ppc64le", elf.EM_S390: "s390x",
}

// checkArch refuses an ELF executable built for another architecture than the
// platform it is put into (a wrong cache directory would otherwise ship an image that
// cannot run). Files that are not ELF are not checked.
func checkArch(path string, p platform) error {
	f, err := elf.Open(path)
	if err != nil {
		return nil // not ELF: scripts, configs, data
	}
	defer func() { _ = f.Close() }()
	arch, known := elfArch[f.Machine]
	if !known || arch == p.Architecture {
		return nil
	}
	return fmt.Errorf("%s is an %s (%s) binary, not %s: use the build for %s", path, arch, f.Machine, p.Architecture, p)
}
