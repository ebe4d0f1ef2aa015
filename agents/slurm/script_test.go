package slurm

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"tuplebroker"
	"tuplebroker/agents"
	"tuplebroker/jsdl"
)

// nasty are strings a shell would act on if it ever interpreted them.
func nasty(marker string) []string {
	return []string{
		"$(touch " + marker + ")",
		"`touch " + marker + "`",
		"; touch " + marker,
		"&& touch " + marker,
		"|| touch " + marker + " | touch " + marker,
		"' ; touch " + marker + " ; '",
		`" ; touch ` + marker + ` ; "`,
		"\\'\\\"\\\\",
		"line one\nline two\n",
		"\n#SBATCH --wrap=touch " + marker + "\n#SBATCH --output=" + marker,
		"#SBATCH --wrap=touch " + marker,
		"a\r\nb\r",
		"${HOME} $HOME %j %x %% %u",
		"> " + marker + " < /etc/passwd 2>&1",
		"*",
		"-n",
		"--help",
		"",
		" leading and trailing spaces ",
		"tab\there",
		"unicode ✓ ünïcödé",
		"\x01\x02\x7f\xff",
	}
}

// testCaps are the capabilities the test translator's backend offers.
func testCaps() []string { return []string{"os=LINUX", "arch=x86_64", "exclusive=true"} }

// admitTranslate is what a job goes through in an agent: agents.Admit
// against caps, then translate.
func admitTranslate(tr *translator, caps []string, guid string, def *jsdl.JobDefinition, nodes []node) (*submission, error) {
	if err := agents.Admit(def, caps); err != nil {
		return nil, err
	}
	return tr.translate(guid, def, nodes)
}

func testTranslator() *translator {
	t := &translator{
		root: "/",
		srun: "srun",
		id: agents.User{Name: "alice", UID: "1000", GIDs: []string{"1000", "27"},
			LookupGroup: func(name string) (string, error) {
				if name == "sudo" {
					return "27", nil
				}
				return "", errors.New("no such group")
			}},
	}
	return t
}

func TestShellQuoteRoundTrip(t *testing.T) {
	inputs := nasty("/nonexistent/marker")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		b := make([]byte, 1+rng.IntN(40))
		for i := range b {
			b[i] = byte(1 + rng.IntN(255)) // any byte but NUL
		}
		inputs = append(inputs, string(b))
	}
	// One bash prints every word, NUL-terminated.
	var script strings.Builder
	script.WriteString("printf '%s\\0'")
	for _, s := range inputs {
		script.WriteString(" " + shellQuote(s))
	}
	script.WriteString("\n")
	out, err := exec.Command("bash", "-c", script.String()).Output()
	if err != nil {
		t.Fatalf("bash: %v", err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(got) != len(inputs) {
		t.Fatalf("bash printed %d words, want %d", len(got), len(inputs))
	}
	for i := range inputs {
		if got[i] != inputs[i] {
			t.Errorf("word %d: bash saw %q, want %q (quoted %s)", i, got[i], inputs[i], shellQuote(inputs[i]))
		}
	}
}

func TestShellQuoteNoCarriageReturn(t *testing.T) {
	// sbatch refuses scripts with DOS line breaks.
	if q := shellQuote("a\r\nb\r"); strings.ContainsRune(q, '\r') {
		t.Fatalf("shellQuote kept a carriage return: %q", q)
	}
}

// sbatchDirectives returns the #SBATCH lines sbatch would read from script:
// those before the first line that is neither blank nor a comment.
func sbatchDirectives(script string) []string {
	var dirs []string
	lines := strings.Split(script, "\n")
	for _, l := range lines[1:] { // after the shebang
		s := strings.TrimSpace(l)
		if s == "" {
			continue
		}
		if !strings.HasPrefix(s, "#") {
			break
		}
		if strings.HasPrefix(s, "#SBATCH") {
			dirs = append(dirs, l)
		}
	}
	return dirs
}

// TestScriptRunsLiterally runs a generated script with bash, without Slurm:
// every argument, environment value and file name reaches the program as
// the bytes the JSDL gave, and nothing else runs.
func TestScriptRunsLiterally(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	words := nasty(marker)

	// A working directory and file names made of the same material.
	// (A name cannot hold a slash: these touch a relative file in dir, the
	// directory the script starts in.)
	relMarker := filepath.Join(dir, "injected")
	wd := filepath.Join(dir, "wd $(touch injected) `touch injected` ; && touch injected ' \" \n#SBATCH --wrap=touch injected")
	if err := os.Mkdir(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	outName := "out $(touch injected) ; ' \" \n#SBATCH -o x \r y"
	errName := "err `touch injected` && \\"
	inName := "in $(touch injected)"
	input := "input bytes\n$(touch " + marker + ")\n"
	if err := os.WriteFile(filepath.Join(wd, inName), []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}

	tr := testTranslator()
	tr.root = dir
	var env []string
	for i, w := range words {
		env = append(env, pxEnv("E"+string(rune('A'+i)), w))
	}
	// The program: print the arguments, then the environment values, then
	// copy stdin; write to stderr too.
	prog := `for a in "$@"; do printf '<%s>\n' "$a"; done; for v in ` + envList(len(words)) + `; do eval "printf '[%s]\n' \"\$$v\""; done; cat; echo stderr-line >&2`
	doc := posixDoc(append(append([]string{cmdline("/bin/sh", append([]string{"-c", prog, "sh"}, words...)...)},
		env...), px("Input", inName), px("Output", outName), px("Error", errName), px("WorkingDirectory", wd))...)
	def := parse(t, doc)
	// JSDL trims surrounding white space: the program must see what the
	// parser kept.
	_, argv := def.Executable()
	words = argv[3:]
	var values []string
	for _, e := range def.JobDescription.Application.POSIX.Environment {
		values = append(values, e.Value)
	}
	sub, err := tr.translate("guid-1", def, nil)
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	if d := sbatchDirectives(string(sub.script)); len(d) > 0 {
		t.Fatalf("sbatch would read directives %q from\n%s", d, sub.script)
	}
	scriptPath := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(scriptPath, sub.script, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(scriptPath)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("script: %v\n%s\n--- script:\n%s", err, out, sub.script)
	}
	var want strings.Builder
	for _, w := range words {
		want.WriteString("<" + w + ">\n")
	}
	for _, v := range values {
		want.WriteString("[" + v + "]\n")
	}
	want.WriteString(input)
	got, err := os.ReadFile(filepath.Join(wd, outName))
	if err != nil {
		t.Fatalf("output file: %v\n%s", err, sub.script)
	}
	if string(got) != want.String() {
		t.Errorf("output differs\n got: %q\nwant: %q", got, want.String())
	}
	if e, err := os.ReadFile(filepath.Join(wd, errName)); err != nil || string(e) != "stderr-line\n" {
		t.Errorf("error file = %q, %v; want \"stderr-line\\n\"", e, err)
	}
	for _, m := range []string{marker, relMarker} {
		if _, err := os.Stat(m); err == nil {
			t.Fatalf("marker %s exists: something was interpreted\n%s", m, sub.script)
		}
	}
}

// envList returns "EA EB ..." for n variables.
func envList(n int) string {
	var l []string
	for i := range n {
		l = append(l, "E"+string(rune('A'+i)))
	}
	return strings.Join(l, " ")
}

func TestScriptShape(t *testing.T) {
	tr := testTranslator()
	sub, err := tr.translate("g", parse(t, posixDoc(cmdline("/bin/true"))), nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(sub.script), "\n")
	if lines[0] != "#!/bin/bash" || !strings.HasPrefix(lines[1], ": ") {
		t.Fatalf("script must start with a shebang and a command line:\n%s", sub.script)
	}
	// Without streams the script redirects nothing (Slurm's /dev/null
	// stays) and runs the program in the root directory.
	want := "#!/bin/bash\n: tuplebroker job g\n" +
		"# Generated by tuplebroker. Every value taken from the job is a single-quoted\n# literal; sbatch reads no directives past the line above.\n" +
		"cd -- '/' || exit 1\nexec -- '/bin/true'\n"
	if string(sub.script) != want {
		t.Fatalf("script:\n%s\nwant:\n%s", sub.script, want)
	}
}

func TestScriptSameOutputAndError(t *testing.T) {
	tr := testTranslator()
	sub, err := tr.translate("g", parse(t, posixDoc(cmdline("/bin/true"), px("Output", "o.txt"), px("Error", "/o.txt"))), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sub.script), "exec 1>'o.txt' 2>&1 || exit 1\n") {
		t.Fatalf("Output and Error naming one file must share it:\n%s", sub.script)
	}
}

func TestScriptFileSystems(t *testing.T) {
	tr := testTranslator()
	doc := jobDoc(posixApp(
		`<jsdl-posix:Executable filesystemName="APPS">bin/run</jsdl-posix:Executable>`,
		`<jsdl-posix:Argument filesystemName="DATA">in.dat</jsdl-posix:Argument>`,
		`<jsdl-posix:Output filesystemName="DATA">out.txt</jsdl-posix:Output>`,
		`<jsdl-posix:WorkingDirectory filesystemName="DATA">work</jsdl-posix:WorkingDirectory>`,
	), resources(
		`<jsdl:FileSystem name="APPS"><jsdl:MountPoint>/opt/apps/</jsdl:MountPoint></jsdl:FileSystem>`,
		`<jsdl:FileSystem name="DATA"><jsdl:MountPoint>/data</jsdl:MountPoint></jsdl:FileSystem>`,
	))
	sub, err := tr.translate("g", parse(t, doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := string(sub.script)
	for _, want := range []string{"cd -- '/data/work'", "exec -- '/opt/apps/bin/run' '/data/in.dat'", "1>'/data/out.txt'"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
}

// argsOf translates doc and returns the sbatch options after the fixed ones.
func argsOf(t *testing.T, tr *translator, doc string, nodes []node) []string {
	t.Helper()
	sub, err := tr.translate("g", parse(t, doc), nodes)
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	fixed := []string{"--parsable", "--job-name=g"}
	if tr.partition != "" {
		fixed = append(fixed, "--partition="+tr.partition)
	}
	fixed = append(fixed, "--chdir="+tr.root, "--input=/dev/null", "--output=/dev/null", "--error=/dev/null", "--export=ALL")
	if !slices.Equal(sub.args[:len(fixed)], fixed) {
		t.Fatalf("args %q do not start with %q", sub.args, fixed)
	}
	return sub.args[len(fixed):]
}

func TestTranslateArgs(t *testing.T) {
	nodes := []node{{"n1", "host1.example.org"}, {"n2", "host2"}, {"n3", "host3"}}
	exe := cmdline("/bin/true")
	cases := []struct {
		name string
		doc  string
		want []string
	}{
		{"nothing", posixDoc(exe), nil},
		{"wall 60 s", posixDoc(exe, px("WallTimeLimit", "60")), []string{"--time=1"}},
		{"wall 61 s", posixDoc(exe, px("WallTimeLimit", "61")), []string{"--time=2"}},
		{"wall 0 is not unlimited", posixDoc(exe, px("WallTimeLimit", "0")), []string{"--time=1"}},
		{"wall huge", posixDoc(exe, px("WallTimeLimit", "18446744073709551615")), []string{"--time=52560000"}},
		{"total cpus", jobDoc(posixApp(exe), resources(exact("TotalCPUCount", 3))), []string{"--ntasks=1", "--cpus-per-task=3"}},
		{"per-host and total cpus", jobDoc(posixApp(exe), resources(exact("IndividualCPUCount", 2), exact("TotalCPUCount", 4))),
			[]string{"--ntasks=1", "--cpus-per-task=4"}},
		{"cpu lower bound", jobDoc(posixApp(exe), resources(`<jsdl:TotalCPUCount><jsdl:LowerBoundedRange exclusiveBound="true">2</jsdl:LowerBoundedRange></jsdl:TotalCPUCount>`)),
			[]string{"--ntasks=1", "--cpus-per-task=3"}},
		{"cpu upper bound only", jobDoc(posixApp(exe), resources(`<jsdl:TotalCPUCount><jsdl:UpperBoundedRange>8</jsdl:UpperBoundedRange></jsdl:TotalCPUCount>`)), nil},
		{"memory per host", jobDoc(posixApp(exe), resources(exact("IndividualPhysicalMemory", 1.5*mib))), []string{"--mem=2M"}},
		{"memory total over nodes", jobDoc(posixApp(exe), resources(exact("TotalPhysicalMemory", 1<<30), exact("TotalResourceCount", 2))),
			[]string{"--nodes=2", "--mem=512M"}},
		{"disk", jobDoc(posixApp(exe), resources(exact("IndividualDiskSpace", 10*mib))), []string{"--tmp=10M"}},
		{"exclusive", jobDoc(posixApp(exe), resources("<jsdl:ExclusiveExecution>true</jsdl:ExclusiveExecution>")), []string{"--exclusive"}},
		{"not exclusive", jobDoc(posixApp(exe), resources("<jsdl:ExclusiveExecution>false</jsdl:ExclusiveExecution>")), nil},
		{"one candidate by node name", jobDoc(posixApp(exe), resources(hosts("n2"))), []string{"--nodelist=n2"}},
		{"one candidate by short host name", jobDoc(posixApp(exe), resources(hosts("HOST1"))), []string{"--nodelist=n1"}},
		{"one candidate by qualified host name", jobDoc(posixApp(exe), resources(hosts("host3.example.org"))), []string{"--nodelist=n3"}},
		{"two candidates exclude the rest", jobDoc(posixApp(exe), resources(hosts("n1", "n3", "elsewhere"))), []string{"--exclude=n2"}},
		{"every node", jobDoc(posixApp(exe), resources(hosts("n1", "n2", "n3"))), nil},
		{"one candidate, two nodes", jobDoc(posixApp(exe), resources(hosts("n1"), exact("TotalResourceCount", 2))),
			[]string{"--nodes=2", "--exclude=n2,n3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := argsOf(t, testTranslator(), tc.doc, nodes)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("args = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTranslatePartition(t *testing.T) {
	tr := testTranslator()
	tr.partition = "batch"
	argsOf(t, tr, posixDoc(cmdline("/bin/true")), nil) // checks the fixed prefix
}

func TestTranslateSPMD(t *testing.T) {
	const variation = "http://www.ogf.org/jsdl/2007/02/jsdl-spmd/MPI"
	doc := jobDoc(`<jsdl-spmd:SPMDApplication>` + cmdline("/opt/solver", "--grid", "x y") +
		`<jsdl-spmd:NumberOfProcesses>4</jsdl-spmd:NumberOfProcesses>
		<jsdl-spmd:ProcessesPerHost>2</jsdl-spmd:ProcessesPerHost>
		<jsdl-spmd:ThreadsPerProcess>3</jsdl-spmd:ThreadsPerProcess>
		<jsdl-spmd:SPMDVariation>` + variation + `</jsdl-spmd:SPMDVariation></jsdl-spmd:SPMDApplication>`)
	tr := testTranslator()
	_, err := admitTranslate(tr, testCaps(), "g", parse(t, doc), nil)
	wantRejected(t, err) // the variation is not offered
	if _, err := admitTranslate(tr, append(testCaps(), "spmd="+variation), "g", parse(t, doc), nil); err != nil {
		t.Fatalf("offered variation: %v", err)
	}

	tr.srun = "/usr/bin/srun"
	got := argsOf(t, tr, doc, nil)
	if want := []string{"--ntasks=4", "--cpus-per-task=3", "--ntasks-per-node=2"}; !slices.Equal(got, want) {
		t.Fatalf("args = %q, want %q", got, want)
	}
	sub, _ := tr.translate("g", parse(t, doc), nil)
	if !strings.Contains(string(sub.script), "exec -- '/usr/bin/srun' --export=ALL --kill-on-bad-exit=1 -- '/opt/solver' '--grid' 'x y'\n") {
		t.Fatalf("SPMD script does not launch with srun:\n%s", sub.script)
	}
}

func hosts(names ...string) string {
	s := "<jsdl:CandidateHosts>"
	for _, n := range names {
		s += "<jsdl:HostName>" + esc(n) + "</jsdl:HostName>"
	}
	return s + "</jsdl:CandidateHosts>"
}

func TestTranslateRejects(t *testing.T) {
	exe := cmdline("/bin/true")
	nodes := []node{{"n1", "localhost"}}
	cases := []struct {
		name, guid, doc string
	}{
		{"data staging", "g", jobDoc(posixApp(exe), `<jsdl:DataStaging><jsdl:FileName>f</jsdl:FileName><jsdl:CreationFlag>overwrite</jsdl:CreationFlag><jsdl:Source><jsdl:URI>http://example.org/f</jsdl:URI></jsdl:Source></jsdl:DataStaging>`)},
		{"other os", "g", jobDoc(posixApp(exe), resources(`<jsdl:OperatingSystem><jsdl:OperatingSystemType><jsdl:OperatingSystemName>WINNT</jsdl:OperatingSystemName></jsdl:OperatingSystemType></jsdl:OperatingSystem>`))},
		{"other arch", "g", jobDoc(posixApp(exe), resources(`<jsdl:CPUArchitecture><jsdl:CPUArchitectureName>sparc</jsdl:CPUArchitectureName></jsdl:CPUArchitecture>`))},
		{"application name only", "g", jobDoc(`<jsdl:ApplicationName>blast</jsdl:ApplicationName>`)},
		{"other user", "g", posixDoc(exe, px("UserName", "bob"))},
		{"group not a member", "g", posixDoc(exe, px("GroupName", "wheel"))},
		{"unknown file system", "g", jobDoc(posixApp(`<jsdl-posix:Executable filesystemName="NOPE">x</jsdl-posix:Executable>`))},
		{"read-only shell variable", "g", posixDoc(exe, pxEnv("UID", "0"))},
		{"cpu count absurd", "g", jobDoc(posixApp(exe), resources(exact("TotalCPUCount", 1e30)))},
		{"no candidate host here", "g", jobDoc(posixApp(exe), resources(hosts("elsewhere")))},
		{"GUID with a comma", "a,b", posixDoc(exe)},
		{"GUID with a newline", "a\nb", posixDoc(exe)},
		{"GUID empty", "", posixDoc(exe)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			def, err := parseDoc(tc.doc)
			if err != nil {
				t.Skipf("document not accepted by the parser: %v", err)
			}
			_, err = admitTranslate(testTranslator(), testCaps(), tc.guid, def, nodes)
			wantRejected(t, err)
		})
	}
	if _, err := testTranslator().translate("g", nil, nil); !errors.Is(err, tuplebroker.ErrRejected) {
		t.Errorf("nil definition: %v", err)
	}
}

func TestTranslateAccepts(t *testing.T) {
	exe := cmdline("/bin/true")
	for name, doc := range map[string]string{
		"own user by name": posixDoc(exe, px("UserName", "alice")),
		"own user by uid":  posixDoc(exe, px("UserName", "1000")),
		"own group":        posixDoc(exe, px("GroupName", "sudo")),
		"own group id":     posixDoc(exe, px("GroupName", "1000")),
		"linux":            jobDoc(posixApp(exe), resources(`<jsdl:OperatingSystem><jsdl:OperatingSystemType><jsdl:OperatingSystemName>LINUX</jsdl:OperatingSystemName></jsdl:OperatingSystemType></jsdl:OperatingSystem>`)),
		"special variable": posixDoc(exe, pxEnv("RANDOM", "4"), pxEnv("SECONDS", "x")),
		"hpc profile":      jobDoc(`<jsdl-hpcpa:HPCProfileApplication>` + strings.ReplaceAll(exe, "jsdl-posix:", "jsdl-hpcpa:") + `</jsdl-hpcpa:HPCProfileApplication>`),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := testTranslator().translate("g", parse(t, doc), nil); err != nil {
				t.Fatalf("translate: %v", err)
			}
		})
	}
}

// TestSpecialVariablesKeepTheirValue: bash's dynamic variables lose their
// magic when the script unsets them first.
func TestSpecialVariablesKeepTheirValue(t *testing.T) {
	dir := t.TempDir()
	tr := testTranslator()
	doc := posixDoc(cmdline("/usr/bin/env"), pxEnv("RANDOM", "4"), pxEnv("SECONDS", "x y"), pxEnv("LINENO", "7"), px("Output", filepath.Join(dir, "env")))
	sub, err := tr.translate("g", parse(t, doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(p, sub.script, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(p).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env"))
	for _, want := range []string{"RANDOM=4\n", "SECONDS=x y\n", "LINENO=7\n"} {
		if !bytes.Contains(env, []byte(want)) {
			t.Errorf("environment lacks %q:\n%s", want, env)
		}
	}
}

func TestCeilMin(t *testing.T) {
	doc := func(rv string) string {
		return jobDoc(posixApp(cmdline("/bin/true")), resources("<jsdl:TotalCPUCount>"+rv+"</jsdl:TotalCPUCount>"))
	}
	for rv, want := range map[string]uint64{
		"<jsdl:Exact>2.2</jsdl:Exact>": 3,
		"<jsdl:Range><jsdl:LowerBound>4</jsdl:LowerBound><jsdl:UpperBound>8</jsdl:UpperBound></jsdl:Range>": 4,
		"<jsdl:Exact>0</jsdl:Exact>": 0,
	} {
		def := parse(t, doc(rv))
		got, err := ceilMin(def.JobDescription.Resources.TotalCPUCount, "x", 1, maxCount)
		if err != nil || got != want {
			t.Errorf("%s: ceilMin = %d, %v; want %d", rv, got, err, want)
		}
	}
}
