package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestShardAutoComesFromSlurmsArrayAndIsTheDefaultInsideOne(t *testing.T) {
	slurm := map[string]string{"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_MAX": "13", "SLURM_ARRAY_TASK_COUNT": "4"}
	for _, flag := range []string{"auto", ""} {
		i, n, from, err := parseShard(flag, env(slurm))
		if err != nil || i != 2 || n != 4 || !strings.Contains(from, "SLURM_ARRAY_TASK_ID=12") {
			t.Errorf("--shard %q: %d/%d %q %v, want 2/4 from Slurm", flag, i, n, from, err)
		}
	}
	// An explicit i/n wins over the environment.
	if i, n, _, err := parseShard("1/3", env(slurm)); err != nil || i != 1 || n != 3 {
		t.Errorf("--shard 1/3 in an array task: %d/%d %v", i, n, err)
	}
	// Outside Slurm, no flag means every run.
	if i, n, _, err := parseShard("", env(nil)); err != nil || i != 0 || n != 1 {
		t.Errorf("no --shard: %d/%d %v", i, n, err)
	}
}

func TestShardAutoRefusesWhatItCannotMapOneToOne(t *testing.T) {
	for name, e := range map[string]map[string]string{
		"no Slurm":                 nil,
		"stepped":                  {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "6", "SLURM_ARRAY_TASK_COUNT": "4"},
		"not a number":             {"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3", "SLURM_ARRAY_TASK_COUNT": "4"},
		"k8s index past the count": {"JOB_COMPLETION_INDEX": "4", "SAERUN_SHARDS": "4"},
		"k8s without the count":    {"JOB_COMPLETION_INDEX": "1"},
	} {
		if _, _, _, err := parseShard("auto", env(e)); err == nil {
			t.Errorf("%s: --shard auto accepted %v", name, e)
		}
	}
	for _, bad := range []string{"3/3", "-1/2", "1/0", "1/2x", "a/b"} {
		if _, _, _, err := parseShard(bad, env(nil)); err == nil {
			t.Errorf("--shard %q accepted", bad)
		}
	}
	if i, n, _, err := parseShard("auto", env(map[string]string{"JOB_COMPLETION_INDEX": "3", "SAERUN_SHARDS": "4"})); err != nil || i != 3 || n != 4 {
		t.Errorf("Kubernetes index: %d/%d %v", i, n, err)
	}
}

// The printed submit script is valid bash, and its jobs run each shard with --resume
// and then compact and report, with every path absolute and quoted.
func TestSlurmScriptsRunShardsWithResumeThenCompactAndReport(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sae run") // a space, to check the quoting
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	j, err := newClusterJob("quickstart.yaml", 4, bin, "out dir", []string{"--backend", "go"}, []string{"train.epochs=2"})
	if err != nil {
		t.Fatal(err)
	}
	array, finish, err := slurmScripts(j, slurmOptions{Partition: "gpu", Time: "1:00:00", GPUsPerTask: 1, Logs: "/logs", Report: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#SBATCH --array=0-3\n", "#SBATCH --requeue\n", "#SBATCH --partition=gpu\n",
		"#SBATCH --time=1:00:00\n", "#SBATCH --gpus-per-task=1\n", "--resume --shard auto --backend go "} {
		if !strings.Contains(array, want) {
			t.Errorf("array script lacks %q:\n%s", want, array)
		}
	}
	if !strings.Contains(array, "exec '"+bin+"' --out '"+j.Out+"'") || !filepath.IsAbs(j.Out) || !strings.HasSuffix(j.Out, "out dir") {
		t.Errorf("array script does not exec the quoted absolute binary and --out:\n%s", array)
	}
	compact := strings.Index(finish, shellJoin([]string{bin, "compact", j.SweepDir()}))
	report := strings.Index(finish, shellJoin([]string{bin, "report", j.SweepDir()}))
	if compact < 0 || report < compact {
		t.Errorf("finish script does not compact then report:\n%s", finish)
	}
	script := filepath.Join(t.TempDir(), "submit.sh")
	if err := os.WriteFile(script, []byte(slurmSubmitScript(array, finish, "/logs")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v\n%s", err, out)
	}
	if _, err := newClusterJob("quickstart.yaml", 19, bin, "out", nil, nil); err == nil || !strings.Contains(err.Error(), "18 runs") {
		t.Errorf("19 tasks for 18 runs: %v", err)
	}
}

func TestKubernetesNamesAreDNSLabels(t *testing.T) {
	for in, want := range map[string]string{
		"saerun-quickstart-kl":              "saerun-quickstart-kl",
		"saerun-My_Sweep.v2":                "saerun-my-sweep-v2",
		"saerun-" + strings.Repeat("x", 80): "saerun-" + strings.Repeat("x", 45),
	} {
		if got := kubeName(in); got != want {
			t.Errorf("kubeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// sbatchDirectiveWords reads a batch script's #SBATCH directives the way sbatch does
// (Slurm's src/sbatch/opt.c: directives until the first line that is neither blank nor
// a comment; in each, words split at unquoted whitespace, quotes group, a backslash
// escapes the next character, an unquoted '#' ends the line) and returns their words.
func sbatchDirectiveWords(script string) [][]string {
	var out [][]string
	for _, line := range strings.Split(script, "\n")[1:] {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if !strings.HasPrefix(line, "#") {
			break
		}
		rest, ok := strings.CutPrefix(line, "#SBATCH")
		if !ok {
			continue
		}
		var words []string
		var w []byte
		inWord, escape := false, false
		var quote byte
		for i := 0; i < len(rest); i++ {
			c := rest[i]
			switch {
			case escape:
				escape = false
			case c == '\\':
				escape, inWord = true, true
				continue
			case quote != 0:
				if c == quote {
					quote = 0
					continue
				}
			case c == '"' || c == '\'':
				quote, inWord = c, true
				continue
			case c == '#':
				i = len(rest)
				continue
			case c == ' ' || c == '\t':
				if inWord {
					words = append(words, string(w))
				}
				w, inWord = nil, false
				continue
			}
			w, inWord = append(w, c), true
		}
		if inWord {
			words = append(words, string(w))
		}
		out = append(out, words)
	}
	return out
}

// Each hostile string, as every user value of the slurm verb at once, comes back from
// the scripts unchanged: #SBATCH values as sbatch reads them, the task's and the finish
// job's commands as bash runs them (a stand-in binary records its arguments), and the
// batch scripts as a stand-in sbatch receives them from the printed submit script; no
// injected command runs. A value an #SBATCH line cannot hold is refused by name.
func TestSlurmScriptsCarryHostileStringsExactlyOrRefuseThem(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	standIn := func(path, body string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/bash\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for k, h := range hostileStrings {
		t.Run(strconv.Itoa(k), func(t *testing.T) {
			tmp := t.TempDir()
			dir := filepath.Join(tmp, h) // a folder named by the hostile string
			rec, pwned := filepath.Join(tmp, "rec"), filepath.Join(tmp, "PWNED")
			if err := os.MkdirAll(rec, 0o755); err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(dir, "saerun")
			standIn(bin, `{ printf '%s\0' "$@"; printf 'END\0'; } >> "$REC/argv"`+"\n")
			standIn(filepath.Join(tmp, "path", "sbatch"), `n=$(ls "$REC" | grep -c 'script$' || true)
printf '%s\0' "$@" > "$REC/sbatch$n.args"; cat > "$REC/sbatch$n.script"; echo 4242
`)
			j := clusterJob{Name: "hostile", Spec: filepath.Join(dir, "spec.yaml"), Runs: 4, Tasks: 2, Binary: bin,
				Out: filepath.Join(dir, "out"), WorkDir: dir, RunFlags: []string{"--set", h, "--data-dir", h, "--backend", h}}
			o := slurmOptions{Partition: h, Time: h, Mem: h, Logs: filepath.Join(dir, "logs"), Jupyter: h, Report: true}
			array, finish, err := slurmScripts(j, o)
			if strings.ContainsAny(h, "\n\r") {
				if err == nil || !strings.Contains(err.Error(), "#SBATCH") {
					t.Fatalf("a newline in #SBATCH values: %v", err)
				}
				// Each source of a directive value is named when it alone holds a newline.
				for from, set := range map[string]func(*clusterJob, *slurmOptions){
					"--partition":        func(_ *clusterJob, o *slurmOptions) { o.Partition = h },
					"--time":             func(_ *clusterJob, o *slurmOptions) { o.Time = h },
					"--mem":              func(_ *clusterJob, o *slurmOptions) { o.Mem = h },
					"--logs":             func(_ *clusterJob, o *slurmOptions) { o.Logs = dir },
					"the current folder": func(j *clusterJob, _ *slurmOptions) { j.WorkDir = dir },
				} {
					jj, oo := clusterJob{Name: "hostile", Spec: "/s.yaml", Runs: 4, Tasks: 2, Binary: "/b", Out: "/o", WorkDir: "/w"}, slurmOptions{Logs: "/l"}
					set(&jj, &oo)
					if _, _, err := slurmScripts(jj, oo); err == nil || !strings.Contains(err.Error(), from) {
						t.Errorf("a newline in %s: %v, want an error naming it", from, err)
					}
				}
				// Paths and values outside #SBATCH lines may hold newlines: bash reads them back.
				j.WorkDir, o.Logs, o.Partition, o.Time, o.Mem = tmp, filepath.Join(tmp, "logs"), "", "", ""
				if array, finish, err = slurmScripts(j, o); err != nil {
					t.Fatal(err)
				}
			} else if err != nil {
				t.Fatal(err)
			}

			// sbatch reads the directives back to the values.
			want := map[string]string{"job-name": "saerun-hostile", "chdir": j.WorkDir, "output": strings.ReplaceAll(o.Logs, "%", "%%") + "/%x-%A_%a.log",
				"open-mode": "append", "ntasks": "1", "array": "0-1", "requeue": "", "partition": o.Partition, "time": o.Time, "mem": o.Mem}
			got := map[string]string{}
			for _, words := range sbatchDirectiveWords(array) {
				if len(words) != 1 {
					t.Fatalf("an #SBATCH line read as %q, want one word:\n%s", words, array)
				}
				opt, val, _ := strings.Cut(strings.TrimPrefix(words[0], "--"), "=")
				got[opt] = val
			}
			for opt, v := range want {
				if v == "" && opt != "requeue" {
					continue
				}
				if got[opt] != v {
					t.Errorf("#SBATCH --%s reads back as %q, want %q:\n%s", opt, got[opt], v, array)
				}
			}

			// The printed submit script passes both batch scripts to sbatch unchanged.
			submit := filepath.Join(tmp, "submit.sh")
			if err := os.WriteFile(submit, []byte(slurmSubmitScript(array, finish, o.Logs)), 0o644); err != nil {
				t.Fatal(err)
			}
			runBash := func(script string) {
				t.Helper()
				for _, args := range [][]string{{"-n", script}, {script}} {
					cmd := exec.Command("bash", args...)
					cmd.Dir = tmp
					cmd.Env = append(os.Environ(), "REC="+rec, "PWNED="+pwned, "PATH="+filepath.Join(tmp, "path")+":"+os.Getenv("PATH"))
					if out, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("bash %q: %v\n%s", args, err, out)
					}
				}
			}
			runBash(submit)
			for n, w := range []struct {
				script string
				args   []string
			}{{array, []string{"--parsable"}}, {finish, []string{"--parsable", "--kill-on-invalid-dep=yes", "--dependency=afterany:4242"}}} {
				if b, _ := os.ReadFile(filepath.Join(rec, "sbatch"+strconv.Itoa(n)+".script")); string(b) != w.script {
					t.Errorf("sbatch %d received\n%s\nwant\n%s", n, b, w.script)
				}
				b, _ := os.ReadFile(filepath.Join(rec, "sbatch"+strconv.Itoa(n)+".args"))
				if got := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"); !slices.Equal(got, w.args) {
					t.Errorf("sbatch %d arguments %q, want %q", n, got, w.args)
				}
			}
			if _, err := os.Stat(o.Logs); err != nil {
				t.Errorf("the submit script did not make the logs folder %q: %v", o.Logs, err)
			}

			// The batch scripts run the binary with exactly the intended arguments.
			for n, s := range []string{array, finish} {
				f := filepath.Join(tmp, "batch"+strconv.Itoa(n)+".sh")
				if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
				runBash(f)
			}
			b, _ := os.ReadFile(filepath.Join(rec, "argv"))
			var calls [][]string
			var cur []string
			for _, a := range strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00") {
				if a == "END" {
					calls, cur = append(calls, cur), nil
					continue
				}
				cur = append(cur, a)
			}
			wantCalls := [][]string{j.runCommand("auto")[1:]}
			for _, c := range j.finishCommands(true, h) {
				wantCalls = append(wantCalls, c[1:])
			}
			if !slices.EqualFunc(calls, wantCalls, slices.Equal[[]string]) {
				t.Errorf("the binary ran with\n%q\nwant\n%q", calls, wantCalls)
			}
			if _, err := os.Stat(pwned); err == nil {
				t.Errorf("an injected command ran")
			}
		})
	}
}

// sbatch blanks out the words hetjob and packjob (any case) in a directive line, so a
// value holding one is refused, naming where it came from.
func TestSlurmRefusesDirectiveValuesSbatchWouldRewrite(t *testing.T) {
	j := clusterJob{Name: "x", Spec: "/s.yaml", Runs: 4, Tasks: 2, Binary: "/b", Out: "/o", WorkDir: "/w/HetJob"}
	if _, _, err := slurmScripts(j, slurmOptions{Logs: "/l"}); err == nil || !strings.Contains(err.Error(), "the current folder") || !strings.Contains(err.Error(), "hetjob") {
		t.Errorf("hetjob in the folder: %v, want an error naming it", err)
	}
	j.WorkDir = "/w"
	if _, _, err := slurmScripts(j, slurmOptions{Logs: "/l", Partition: "my-packjob"}); err == nil || !strings.Contains(err.Error(), "--partition") {
		t.Errorf("packjob in --partition: %v, want an error naming it", err)
	}
	// hetjob outside a directive (the binary's path) is quoted, not refused.
	j.Binary = "/hetjob/saerun"
	if _, _, err := slurmScripts(j, slurmOptions{Logs: "/l"}); err != nil {
		t.Error(err)
	}
}

// --submit hands each batch script to sbatch on its standard input, byte for byte,
// with the given arguments and no shell between, and reads the id from "id;cluster".
func TestSlurmSubmitGivesSbatchTheScriptUnchanged(t *testing.T) {
	tmp := t.TempDir()
	sb := filepath.Join(tmp, "sbatch")
	if err := os.WriteFile(sb, []byte("#!/bin/bash\nprintf '%s\\0' \"$@\" > \"$REC.args\"; cat > \"$REC.script\"; echo '77;cluster'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", tmp+string(os.PathListSeparator)+os.Getenv("PATH"))
	rec := filepath.Join(tmp, "rec")
	t.Setenv("REC", rec)
	script := "#!/bin/bash\n#SBATCH --chdir=\"/a b\"\nexec '" + strings.Join(hostileStrings[:4], "' '") + "'\n"
	id, err := sbatch(script, "--dependency=afterany:5", "$(touch x)")
	if err != nil || id != "77" {
		t.Fatalf("sbatch: %q %v", id, err)
	}
	got, _ := os.ReadFile(rec + ".script")
	args, _ := os.ReadFile(rec + ".args")
	if string(got) != script || string(args) != "--parsable\x00--dependency=afterany:5\x00$(touch x)\x00" {
		t.Errorf("sbatch received %q with arguments %q", got, args)
	}
}
