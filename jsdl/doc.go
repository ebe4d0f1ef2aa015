// Package jsdl models, parses and validates JSDL 1.0 job descriptions (OGF
// GFD.56) with the POSIXApplication extension (GFD.56), the HPC Profile
// Application extension (GFD.111) and the SPMD Application extension
// (GFD.115).
//
// It is shared by the HTTP front end, which receives untrusted documents, and
// the batch-scheduler agents, which translate a [JobDefinition] into an
// sbatch/qsub/fork-exec invocation. Parsing streams the input through
// encoding/xml's token API under [Limits] and never panics on any input.
//
// # Accepted
//
//   - Any namespace prefixes, or default namespaces, for the four namespaces
//     [NamespaceJSDL], [NamespacePOSIX], [NamespaceHPCPA] and [NamespaceSPMD].
//   - Child elements in any order.
//   - Surrounding XML whitespace (space, tab, CR, LF) around values, which is
//     trimmed; nothing else about a value is changed. Arguments, paths and
//     environment values are returned exactly as written (after XML entity
//     decoding), never interpreted or escaped: "$(touch /tmp/x)", backticks,
//     quotes, newlines, "#SBATCH ..." are ordinary data, and backends must
//     pass them out of band (argv/env), never through a shell or a generated
//     script.
//   - Extension elements in any other namespace, wherever JSDL allows
//     children; they are skipped entirely (but still count toward limits).
//     Attributes in other namespaces (xsi:schemaLocation, ...) are ignored.
//   - Comments, processing instructions, CDATA sections, a UTF-8 byte order
//     mark, and an XML declaration with encoding UTF-8, US-ASCII or
//     ISO-8859-1.
//   - Enumeration values (OperatingSystemName, CPUArchitectureName,
//     FileSystemType, CreationFlag) in any letter case; they are stored in
//     the schema's spelling (e.g. "linux" becomes [OSLinux] "LINUX",
//     "SOLARIS" becomes [OSSolaris] "Solaris").
//   - The DataStaging element FilesystemName (schema spelling) or
//     FileSystemName.
//   - In SPMDApplication, the POSIX fields in the jsdl-posix namespace (as
//     GFD.115 specifies) or in the jsdl-spmd namespace, plus any other
//     jsdl-posix element such as WallTimeLimit.
//
// # Rejected
//
// With [ErrMalformed]: XML that is not well-formed or namespace-well-formed
// (mismatched tags, undeclared prefixes, duplicate attributes, invalid
// characters or UTF-8, undefined entities, text or elements after the root),
// an empty document, unsupported encodings, and read errors.
//
// With [ErrInvalid]:
//   - a DOCTYPE or ENTITY declaration (no DTD processing or entity expansion
//     is ever done);
//   - a root other than jsdl:JobDefinition; a missing JobDescription or
//     Application; an Application with neither an executable (POSIX, HPC
//     Profile or SPMD Executable) nor an ApplicationName; more than one
//     application element;
//   - an unknown or misplaced element in one of the four JSDL namespaces
//     (e.g. jsdl-posix:Executabel), or an element in no namespace at all;
//     an unknown unqualified attribute on a JSDL element;
//   - a repeated single-valued element; non-whitespace text in an element
//     that has child elements; an element inside a value;
//   - bad numbers: not a decimal literal, NaN, INF, overflow, negative range
//     values or epsilons, non-integer or negative POSIX limits, zero SPMD
//     counts;
//   - bad ranges: an empty RangeValue, a Range without both bounds, Lower >
//     Upper, or a bound admitting no non-negative value;
//   - enumeration values outside the schema lists, and booleans other than
//     true, false, 1 and 0;
//   - empty paths, user/group names, host names, ApplicationName, FileName,
//     URI and SPMDVariation; a URI that is not absolute or contains
//     whitespace; a missing DataStaging FileName or CreationFlag, SPMD
//     SPMDVariation or FileSystem name;
//   - NUL bytes in any value; an Environment name not matching
//     [A-Za-z_][A-Za-z0-9_]*, or set twice in one application; a FileSystem
//     name used twice; a name or filesystemName attribute that is not an
//     NCName.
//
// With [ErrTooLarge], when a limit of [DefaultLimits] (or the caller's) is
// exceeded: MaxBytes (512 KiB of input), MaxDepth (32 levels), MaxElements
// (10000, including skipped extensions), MaxTextBytes (64 KiB per value or
// attribute), MaxArguments and MaxEnvironment (4096 per application).
//
// Every error is an [*Error] carrying the element Path, e.g.
// "/JobDefinition/JobDescription/Application/POSIXApplication/Argument[2]", a
// Reason, and one of the three sentinels for errors.Is; an HTTP front end
// typically maps ErrTooLarge to 413 and the others to 400 or 422.
//
// # Using the result
//
// [JobDefinition.Executable] gives the executable and argument vector for any
// application kind; [JobDefinition.Requirements] gives sorted labels such as
// "os=LINUX" and "arch=x86_64" for matchmaking; numeric resources are
// [RangeValue]s, matched with [RangeValue.Contains] and translated to "at
// least N" with [RangeValue.Min]. [JobDefinition.Validate] re-checks a
// JobDefinition obtained by other means (for example decoded from a queue).
package jsdl
