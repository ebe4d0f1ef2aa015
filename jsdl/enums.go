package jsdl

import "strings"

// OperatingSystemType is a value of the JSDL OperatingSystemTypeEnumeration
// (GFD.56; the
// values derive from the CIM operating system types). Values use the exact spelling of the JSDL schema; note that it is mixed
// case ("LINUX" and "WINNT", but "Solaris", "FreeBSD" and "other").
type OperatingSystemType string

// The complete JSDL 1.0 OperatingSystemTypeEnumeration.
const (
	OSUnknown         OperatingSystemType = "Unknown"
	OSMacOS           OperatingSystemType = "MACOS"
	OSATTUNIX         OperatingSystemType = "ATTUNIX"
	OSDGUX            OperatingSystemType = "DGUX"
	OSDECNT           OperatingSystemType = "DECNT"
	OSTru64UNIX       OperatingSystemType = "Tru64_UNIX"
	OSOpenVMS         OperatingSystemType = "OpenVMS"
	OSHPUX            OperatingSystemType = "HPUX"
	OSAIX             OperatingSystemType = "AIX"
	OSMVS             OperatingSystemType = "MVS"
	OSOS400           OperatingSystemType = "OS400"
	OSOS2             OperatingSystemType = "OS_2"
	OSJavaVM          OperatingSystemType = "JavaVM"
	OSMSDOS           OperatingSystemType = "MSDOS"
	OSWin3x           OperatingSystemType = "WIN3x"
	OSWin95           OperatingSystemType = "WIN95"
	OSWin98           OperatingSystemType = "WIN98"
	OSWinNT           OperatingSystemType = "WINNT"
	OSWinCE           OperatingSystemType = "WINCE"
	OSNCR3000         OperatingSystemType = "NCR3000"
	OSNetWare         OperatingSystemType = "NetWare"
	OSOSF             OperatingSystemType = "OSF"
	OSDCOS            OperatingSystemType = "DC_OS"
	OSReliantUNIX     OperatingSystemType = "Reliant_UNIX"
	OSSCOUnixWare     OperatingSystemType = "SCO_UnixWare"
	OSSCOOpenServer   OperatingSystemType = "SCO_OpenServer"
	OSSequent         OperatingSystemType = "Sequent"
	OSIRIX            OperatingSystemType = "IRIX"
	OSSolaris         OperatingSystemType = "Solaris"
	OSSunOS           OperatingSystemType = "SunOS"
	OSU6000           OperatingSystemType = "U6000"
	OSASERIES         OperatingSystemType = "ASERIES"
	OSTandemNSK       OperatingSystemType = "TandemNSK"
	OSTandemNT        OperatingSystemType = "TandemNT"
	OSBS2000          OperatingSystemType = "BS2000"
	OSLinux           OperatingSystemType = "LINUX"
	OSLynx            OperatingSystemType = "Lynx"
	OSXENIX           OperatingSystemType = "XENIX"
	OSVM              OperatingSystemType = "VM"
	OSInteractiveUNIX OperatingSystemType = "Interactive_UNIX"
	OSBSDUNIX         OperatingSystemType = "BSDUNIX"
	OSFreeBSD         OperatingSystemType = "FreeBSD"
	OSNetBSD          OperatingSystemType = "NetBSD"
	OSGNUHurd         OperatingSystemType = "GNU_Hurd"
	OSOS9             OperatingSystemType = "OS9"
	OSMACHKernel      OperatingSystemType = "MACH_Kernel"
	OSInferno         OperatingSystemType = "Inferno"
	OSQNX             OperatingSystemType = "QNX"
	OSEPOC            OperatingSystemType = "EPOC"
	OSIxWorks         OperatingSystemType = "IxWorks"
	OSVxWorks         OperatingSystemType = "VxWorks"
	OSMiNT            OperatingSystemType = "MiNT"
	OSBeOS            OperatingSystemType = "BeOS"
	OSHPMPE           OperatingSystemType = "HP_MPE"
	OSNextStep        OperatingSystemType = "NextStep"
	OSPalmPilot       OperatingSystemType = "PalmPilot"
	OSRhapsody        OperatingSystemType = "Rhapsody"
	OSWindows2000     OperatingSystemType = "Windows_2000"
	OSDedicated       OperatingSystemType = "Dedicated"
	OSOS390           OperatingSystemType = "OS_390"
	OSVSE             OperatingSystemType = "VSE"
	OSTPF             OperatingSystemType = "TPF"
	OSWindowsRMe      OperatingSystemType = "Windows_R_Me"
	OSCalderaOpenUNIX OperatingSystemType = "Caldera_Open_UNIX"
	OSOpenBSD         OperatingSystemType = "OpenBSD"
	OSNotApplicable   OperatingSystemType = "Not_Applicable"
	OSWindowsXP       OperatingSystemType = "Windows_XP"
	OSzOS             OperatingSystemType = "z_OS"
	OSOther           OperatingSystemType = "other"
)

// osTypes lists every valid OperatingSystemType.
var osTypes = []OperatingSystemType{
	OSUnknown,
	OSMacOS,
	OSATTUNIX,
	OSDGUX,
	OSDECNT,
	OSTru64UNIX,
	OSOpenVMS,
	OSHPUX,
	OSAIX,
	OSMVS,
	OSOS400,
	OSOS2,
	OSJavaVM,
	OSMSDOS,
	OSWin3x,
	OSWin95,
	OSWin98,
	OSWinNT,
	OSWinCE,
	OSNCR3000,
	OSNetWare,
	OSOSF,
	OSDCOS,
	OSReliantUNIX,
	OSSCOUnixWare,
	OSSCOOpenServer,
	OSSequent,
	OSIRIX,
	OSSolaris,
	OSSunOS,
	OSU6000,
	OSASERIES,
	OSTandemNSK,
	OSTandemNT,
	OSBS2000,
	OSLinux,
	OSLynx,
	OSXENIX,
	OSVM,
	OSInteractiveUNIX,
	OSBSDUNIX,
	OSFreeBSD,
	OSNetBSD,
	OSGNUHurd,
	OSOS9,
	OSMACHKernel,
	OSInferno,
	OSQNX,
	OSEPOC,
	OSIxWorks,
	OSVxWorks,
	OSMiNT,
	OSBeOS,
	OSHPMPE,
	OSNextStep,
	OSPalmPilot,
	OSRhapsody,
	OSWindows2000,
	OSDedicated,
	OSOS390,
	OSVSE,
	OSTPF,
	OSWindowsRMe,
	OSCalderaOpenUNIX,
	OSOpenBSD,
	OSNotApplicable,
	OSWindowsXP,
	OSzOS,
	OSOther,
}

// ProcessorArchitecture is a value of the JSDL ProcessorArchitectureEnumeration
// used by CPUArchitecture.
type ProcessorArchitecture string

// The complete JSDL 1.0 ProcessorArchitectureEnumeration.
const (
	ArchSparc   ProcessorArchitecture = "sparc"
	ArchPowerPC ProcessorArchitecture = "powerpc"
	ArchX86     ProcessorArchitecture = "x86"
	ArchX86_32  ProcessorArchitecture = "x86_32"
	ArchX86_64  ProcessorArchitecture = "x86_64"
	ArchPARISC  ProcessorArchitecture = "parisc"
	ArchMIPS    ProcessorArchitecture = "mips"
	ArchIA64    ProcessorArchitecture = "ia64"
	ArchARM     ProcessorArchitecture = "arm"
	ArchOther   ProcessorArchitecture = "other"
)

// archTypes lists every valid ProcessorArchitecture.
var archTypes = []ProcessorArchitecture{
	ArchSparc, ArchPowerPC, ArchX86, ArchX86_32, ArchX86_64,
	ArchPARISC, ArchMIPS, ArchIA64, ArchARM, ArchOther,
}

// FileSystemType is a value of the JSDL FileSystemTypeEnumeration.
type FileSystemType string

// The complete JSDL 1.0 FileSystemTypeEnumeration.
const (
	FileSystemSwap      FileSystemType = "swap"
	FileSystemTemporary FileSystemType = "temporary"
	FileSystemSpool     FileSystemType = "spool"
	FileSystemNormal    FileSystemType = "normal"
)

// fsTypes lists every valid FileSystemType.
var fsTypes = []FileSystemType{
	FileSystemSwap, FileSystemTemporary, FileSystemSpool, FileSystemNormal,
}

// CreationFlag is a value of the JSDL CreationFlagEnumeration: what to do when
// a staged file already exists.
type CreationFlag string

// The complete JSDL 1.0 CreationFlagEnumeration.
const (
	CreationOverwrite     CreationFlag = "overwrite"
	CreationDontOverwrite CreationFlag = "dontOverwrite"
	CreationAppend        CreationFlag = "append"
)

// creationFlags lists every valid CreationFlag.
var creationFlags = []CreationFlag{
	CreationOverwrite, CreationDontOverwrite, CreationAppend,
}

// Valid reports whether t is a member of the enumeration.
func (t OperatingSystemType) Valid() bool { return member(osTypes, t) }

// Valid reports whether a is a member of the enumeration.
func (a ProcessorArchitecture) Valid() bool { return member(archTypes, a) }

// Valid reports whether t is a member of the enumeration.
func (t FileSystemType) Valid() bool { return member(fsTypes, t) }

// Valid reports whether f is a member of the enumeration.
func (f CreationFlag) Valid() bool { return member(creationFlags, f) }

func member[T ~string](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// canonical returns the member of list equal to s ignoring ASCII case, or s
// unchanged when there is none. No two members of any JSDL enumeration differ
// only in case, so case-folding is unambiguous.
func canonical[T ~string](list []T, s string) T {
	for _, x := range list {
		if strings.EqualFold(string(x), s) {
			return x
		}
	}
	return T(s)
}

// GoOS returns the OperatingSystemType of a Go GOOS value (runtime.GOOS),
// OSOther for one JSDL has no name for.
func GoOS(goos string) OperatingSystemType {
	switch goos {
	case "linux", "android":
		return OSLinux
	case "darwin", "ios":
		return OSMacOS
	case "freebsd":
		return OSFreeBSD
	case "netbsd":
		return OSNetBSD
	case "openbsd":
		return OSOpenBSD
	case "dragonfly":
		return OSBSDUNIX
	case "solaris", "illumos":
		return OSSolaris
	case "aix":
		return OSAIX
	case "windows":
		return OSWinNT
	default:
		return OSOther
	}
}

// GoArch returns the ProcessorArchitecture of a Go GOARCH value
// (runtime.GOARCH), ArchOther for one JSDL has no name for. JSDL 1.0 has a
// single "arm" for 32- and 64-bit ARM.
func GoArch(goarch string) ProcessorArchitecture {
	switch goarch {
	case "amd64":
		return ArchX86_64
	case "386":
		return ArchX86_32
	case "arm", "arm64":
		return ArchARM
	case "ppc", "ppc64", "ppc64le":
		return ArchPowerPC
	case "mips", "mipsle", "mips64", "mips64le":
		return ArchMIPS
	case "sparc", "sparc64":
		return ArchSparc
	default:
		return ArchOther
	}
}
