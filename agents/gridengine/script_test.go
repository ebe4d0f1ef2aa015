package gridengine

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tuplebroker/agents"
	"tuplebroker/jsdl"
)

// hostile returns strings a shell would act on if they reached it
// unquoted: each tries to create a marker file in dir. They start and end
// with a letter (JSDL trims surrounding whitespace).
func hostile(dir string) []string {
	m := func(n string) string { return filepath.Join(dir, "marker-"+n) }
	return []string{
		"a $(touch " + m("subst") + ") z",
		"a `touch " + m("backtick") + "` z",
		"a; touch " + m("semicolon") + " z",
		"a && touch " + m("and") + " || touch " + m("or") + " z",
		"a' ; touch " + m("squote") + " ; 'z",
		`a" ; touch ` + m("dquote") + ` ; "z`,
		"a'\\''; touch " + m("escaped") + "; echo 'z",
		"a\ntouch " + m("newline") + "\nz",
		"a\n#$ -N evil\n#$ -o " + m("directive") + "\n#$ -l h_rt=1\nz",
		"a $HOME ${PATH} $0 $1 $@ * ? ~ [a] {x,y} | > " + m("redirect") + " < & %s %n \\ \t \r z",
		"a\x7f\u00e9\u4e16\U0001F600 z",
	}
}

// markers lists the marker files that exist in dir.
func markers(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "marker-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testTranslator() *translator {
	return &translator{queue: "q", pe: "smp", exclusive: "exclusive", id: agents.CurrentUser()}
}

// admitTranslate is what a job goes through in an agent: agents.Admit
// against the default capabilities, then translate.
func admitTranslate(tr *translator, guid string, def *jsdl.JobDefinition) (*submission, error) {
	if err := agents.Admit(def, DefaultCapabilities("exclusive")); err != nil {
		return nil, err
	}
	return tr.translate(guid, def)
}

// TestScriptLiteralBytes runs a generated script with /bin/sh (no Grid
// Engine): hostile arguments, environment values and paths reach the
// program byte for byte and no marker file appears.
func TestScriptLiteralBytes(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	h := hostile(dir)
	// Paths: a working directory, an executable (a link to this test
	// binary), input, output and error files, all with hostile names
	// ('/' and NUL are the only bytes a name cannot hold).
	name := func(s string) string { return strings.ReplaceAll(s, "/", "_") }
	wd := filepath.Join(dir, name("wd "+h[0]+h[7]))
	if err := os.Mkdir(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, name("exe "+h[1]+h[8]))
	if err := os.Symlink(self, exe); err != nil {
		t.Fatal(err)
	}
	in, out, errf := name("in "+h[2]), name("out "+h[3]+h[5]), name("err "+h[6]+h[9])
	if err := os.WriteFile(filepath.Join(wd, in), []byte("input "+h[9]), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append(slices.Clone(h), "", "-n", "--", "'", `\`, "#$ -N evil")
	elems := []string{cmdline(exe, args...), px("Input", in), px("Output", out), px("Error", errf),
		px("WorkingDirectory", wd), pxEnv("GRIDENGINE_TEST_HELPER", "dump")}
	for i, v := range h {
		elems = append(elems, pxEnv("INJ"+string(rune('A'+i)), v))
	}
	def := parse(t, posixDoc(elems...))
	s, err := testTranslator().translate(newGUID(), def)
	if err != nil {
		t.Fatal(err)
	}
	sf := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(sf, []byte(s.script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", sf)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("script: %v\n%s\n--- script:\n%s", err, b, s.script)
	}
	var d dump
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(wd, out))), &d); err != nil {
		t.Fatalf("output: %v", err)
	}
	if !slices.Equal(d.Args, args) {
		t.Errorf("args:\n got %q\nwant %q", d.Args, args)
	}
	for i, v := range h {
		if k := "INJ" + string(rune('A'+i)); d.Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, d.Env[k], v)
		}
	}
	if d.Cwd != wd {
		t.Errorf("cwd %q, want %q", d.Cwd, wd)
	}
	if want := "input " + h[9]; d.Stdin != want {
		t.Errorf("stdin %q, want %q", d.Stdin, want)
	}
	if got, want := readFile(t, filepath.Join(wd, errf)), "stderr:"+args[0]; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	if m := markers(t, dir); len(m) > 0 {
		t.Errorf("marker files appeared: %q", m)
	}
}

func TestQuote(t *testing.T) {
	for _, s := range append(hostile("/nonexistent"), "", "'", "''", `'\''`) {
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+quote(s)).Output()
		if err != nil {
			t.Fatalf("sh: %v", err)
		}
		if string(out) != s {
			t.Errorf("quote(%q) reads back as %q", s, out)
		}
	}
}

// argValue returns the value following option opt in args, and whether opt
// is present.
func argValue(args []string, opt string) (string, bool) {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == opt {
			return args[i+1], true
		}
	}
	return "", false
}

func TestTranslateOptions(t *testing.T) {
	tr := testTranslator()
	guid := "0123abcd-ef"
	def := parse(t, jobDoc(posixApp(cmdline("/bin/true"),
		px("WallTimeLimit", "90"), px("CPUTimeLimit", "80"), px("VirtualMemoryLimit", "1000000"),
		px("MemoryLimit", "2000000")),
		resources(
			"<jsdl:CandidateHosts><jsdl:HostName>node1</jsdl:HostName><jsdl:HostName>node2.example.org</jsdl:HostName></jsdl:CandidateHosts>",
			"<jsdl:ExclusiveExecution>true</jsdl:ExclusiveExecution>",
			lower("IndividualCPUCount", 1.5), lower("TotalCPUCount", 3),
			lower("IndividualPhysicalMemory", 1e9), lower("TotalPhysicalMemory", 5e8),
		)))
	s, err := tr.translate(guid, def)
	if err != nil {
		t.Fatal(err)
	}
	if s.name != "tb-"+guid {
		t.Errorf("name %q", s.name)
	}
	for opt, want := range map[string]string{
		"-N": "tb-" + guid, "-C": "", "-S": "/bin/sh", "-r": "n", "-q": "q", "-o": "/dev/null", "-e": "/dev/null",
		"-pe": "smp",
		"-l":  "h_rt=90,h_cpu=80,h_vmem=1000000,h_rss=2000000,mem_free=1000000000,exclusive=true,h=node1|node2.example.org",
	} {
		if got, ok := argValue(s.args, opt); !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q\nargs %q", opt, got, ok, want, s.args)
		}
	}
	if i := slices.Index(s.args, "-pe"); i < 0 || s.args[i+2] != "3" {
		t.Errorf("-pe slots: args %q, want 3", s.args)
	}
	if slices.Contains(s.args, "-b") {
		t.Errorf("args %q contain -b", s.args)
	}

	// A plain job asks for nothing more.
	s, err = tr.translate(guid, parse(t, posixDoc(cmdline("/bin/true"))))
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []string{"-pe", "-l"} {
		if _, ok := argValue(s.args, opt); ok {
			t.Errorf("plain job has %s: %q", opt, s.args)
		}
	}
	if want := "exec '/bin/true'\n"; !strings.HasSuffix(s.script, want) || strings.Contains(s.script, "cd ") {
		t.Errorf("script:\n%s", s.script)
	}
}

func TestTranslateWorkDirAndShared(t *testing.T) {
	tr := testTranslator()
	tr.workDir = "/base dir"
	def := parse(t, posixDoc(cmdline("-tool/x", "a"), px("WorkingDirectory", "rel"),
		px("Output", "o.txt"), px("Error", "o.txt")))
	s, err := tr.translate("g", def)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"cd -- '/base dir' || exit 1\ncd -- 'rel' || exit 1\n",
		"exec >'o.txt' 2>&1\n",
		"exec './-tool/x' 'a'\n",
	} {
		if !strings.Contains(s.script, want) {
			t.Errorf("script lacks %q:\n%s", want, s.script)
		}
	}
}

func TestTranslateSPMD(t *testing.T) {
	tr := testTranslator()
	const mpi = "http://www.ogf.org/jsdl/2007/02/jsdl-spmd/MPI"
	doc := jobDoc(`<jsdl-spmd:SPMDApplication>` + cmdline("/bin/app", "x") +
		`<jsdl-spmd:NumberOfProcesses>3</jsdl-spmd:NumberOfProcesses>` +
		`<jsdl-spmd:ThreadsPerProcess>2</jsdl-spmd:ThreadsPerProcess>` +
		`<jsdl-spmd:SPMDVariation>` + mpi + `</jsdl-spmd:SPMDVariation></jsdl-spmd:SPMDApplication>`)
	_, err := tr.translate("g", parse(t, doc))
	wantRejected(t, err)

	tr.spmd = map[string][]string{mpi: {"mpirun", "-np", "{np}"}}
	s, err := tr.translate("g", parse(t, doc))
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.Index(s.args, "-pe"); i < 0 || s.args[i+2] != "6" {
		t.Errorf("args %q, want -pe smp 6", s.args)
	}
	if !strings.HasSuffix(s.script, "exec 'mpirun' '-np' '3' '/bin/app' 'x'\n") {
		t.Errorf("script:\n%s", s.script)
	}
}

func TestTranslateRejects(t *testing.T) {
	exe := cmdline("/bin/true")
	for _, tc := range []struct {
		name string
		guid string
		doc  string
		mod  func(*translator)
	}{
		{name: "datastaging", doc: jobDoc(posixApp(exe), `<jsdl:DataStaging><jsdl:FileName>f</jsdl:FileName><jsdl:CreationFlag>overwrite</jsdl:CreationFlag><jsdl:Source><jsdl:URI>http://example.org/f</jsdl:URI></jsdl:Source></jsdl:DataStaging>`)},
		{name: "os", doc: jobDoc(posixApp(exe), resources(`<jsdl:OperatingSystem><jsdl:OperatingSystemType><jsdl:OperatingSystemName>WINNT</jsdl:OperatingSystemName></jsdl:OperatingSystemType></jsdl:OperatingSystem>`))},
		{name: "arch", doc: jobDoc(posixApp(exe), resources(`<jsdl:CPUArchitecture><jsdl:CPUArchitectureName>sparc</jsdl:CPUArchitectureName></jsdl:CPUArchitecture>`))},
		{name: "exclusive-none", doc: jobDoc(posixApp(exe), resources(`<jsdl:ExclusiveExecution>true</jsdl:ExclusiveExecution>`)),
			mod: func(tr *translator) { tr.exclusive = NoExclusive }},
		{name: "cpus-without-pe", doc: jobDoc(posixApp(exe), resources(lower("TotalCPUCount", 2))),
			mod: func(tr *translator) { tr.pe = "" }},
		{name: "max-slots", doc: jobDoc(posixApp(exe), resources(lower("TotalCPUCount", 5))),
			mod: func(tr *translator) { tr.maxSlots = 4 }},
		{name: "max-memory", doc: jobDoc(posixApp(exe), resources(lower("TotalPhysicalMemory", 2e9))),
			mod: func(tr *translator) { tr.maxMemory = 1e9 }},
		{name: "hosts", doc: jobDoc(posixApp(exe), resources(lower("TotalResourceCount", 2)))},
		{name: "candidate-host", doc: jobDoc(posixApp(exe), resources("<jsdl:CandidateHosts><jsdl:HostName>a,exclusive=false</jsdl:HostName></jsdl:CandidateHosts>"))},
		{name: "user", doc: posixDoc(exe, px("UserName", "nobody-else-here"))},
		{name: "application", doc: jobDoc("<jsdl:ApplicationName>blast</jsdl:ApplicationName>")},
		{name: "dash-executable", doc: posixDoc(cmdline("-x"))},
		{name: "guid-colon", guid: "a:b", doc: posixDoc(exe)},
		{name: "guid-space", guid: "a b", doc: posixDoc(exe)},
		{name: "guid-empty", guid: "", doc: posixDoc(exe)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := testTranslator()
			if tc.mod != nil {
				tc.mod(tr)
			}
			guid := tc.guid
			if guid == "" && tc.name != "guid-empty" {
				guid = "g"
			}
			_, err := admitTranslate(tr, guid, parse(t, tc.doc))
			wantRejected(t, err)
		})
	}
	t.Run("nul", func(t *testing.T) {
		def := parse(t, posixDoc(cmdline("/bin/echo", "x")))
		def.JobDescription.Application.POSIX.Argument[0].Value = "a\x00b"
		_, err := testTranslator().translate("g", def)
		wantRejected(t, err)
	})
	t.Run("env-name", func(t *testing.T) {
		def := parse(t, posixDoc(cmdline("/bin/echo"), pxEnv("OK", "v")))
		def.JobDescription.Application.POSIX.Environment[0].Name = "A;touch x"
		_, err := testTranslator().translate("g", def)
		wantRejected(t, err)
	})
}

func TestDefaultCapabilities(t *testing.T) {
	if c := DefaultCapabilities("exclusive"); !slices.Contains(c, "os=LINUX") || !slices.Contains(c, "exclusive=true") {
		t.Errorf("caps %q", c)
	}
	if c := DefaultCapabilities(NoExclusive); slices.Contains(c, "exclusive=true") {
		t.Errorf("caps %q advertise exclusive", c)
	}
	for _, c := range DefaultCapabilities("exclusive") {
		if strings.HasPrefix(c, "arch=") && c == "arch="+string(jsdl.ArchOther) {
			t.Logf("unknown architecture: %s", c)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	good := DefaultConfig().withDefaults()
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if good.Accounting != "/var/lib/gridengine/default/common/accounting" {
		t.Errorf("Accounting %q", good.Accounting)
	}
	if c := (Config{Root: "/r", Cell: "c"}).withDefaults(); c.Accounting != "/r/c/common/accounting" {
		t.Errorf("Accounting %q not derived from Root and Cell", c.Accounting)
	}
	for name, mod := range map[string]func(*Config){
		"name":        func(c *Config) { c.Name = "a b" },
		"root":        func(c *Config) { c.Root = "rel" },
		"cell":        func(c *Config) { c.Cell = "a/b" },
		"port":        func(c *Config) { c.QmasterPort = 70000 },
		"queue":       func(c *Config) { c.Queue = "q,x" },
		"pe":          func(c *Config) { c.ParallelEnv = "p e" },
		"exclusive":   func(c *Config) { c.ExclusiveResource = NoExclusive },
		"capability":  func(c *Config) { c.Capabilities = []string{"nolabel"} },
		"spmd":        func(c *Config) { c.Capabilities = append(c.Capabilities, "spmd=x") },
		"timeout":     func(c *Config) { c.CallTimeout = -1 },
		"workdir":     func(c *Config) { c.WorkDir = "rel" },
		"accounting":  func(c *Config) { c.Accounting = "rel" },
		"max-slots":   func(c *Config) { c.MaxSlots = -1 },
		"spmd-launch": func(c *Config) { c.SPMD = map[string][]string{"x": nil} },
	} {
		c := good
		c.Capabilities = slices.Clone(good.Capabilities)
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
	if _, err := New(context.Background(), Config{Bin: "/nonexistent"}); err == nil {
		t.Error("New accepted a Bin without commands")
	}
}
