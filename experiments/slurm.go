package main

// The cluster verbs: slurm (an sbatch job array plus a dependent job that compacts the
// results and writes the report) and kubernetes (an Indexed Job). Both run this same
// binary with --resume on one shard of the sweep per task, so a requeued or restarted
// task skips the runs it already finished; docs/cluster.md has the details.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sparselab/saerun/pkg/runner"
	"github.com/sparselab/saerun/pkg/spec"
	"github.com/sparselab/saerun/pkg/sweep"
)

// parseShard turns --shard into (index, count). "" means all runs, unless Slurm's
// array variables are set (an array task): then, as "auto", the shard comes from them.
// auto also reads a Kubernetes Indexed Job's JOB_COMPLETION_INDEX, with the count in
// SAERUN_SHARDS (the kubernetes verb's manifest sets it).
func parseShard(value string, getenv func(string) string) (i, n int, from string, err error) {
	if value == "" && getenv("SLURM_ARRAY_TASK_ID") != "" {
		value = "auto"
	}
	switch value {
	case "":
		return 0, 1, "", nil
	case "auto":
		if getenv("SLURM_ARRAY_TASK_ID") == "" && getenv("JOB_COMPLETION_INDEX") != "" {
			return kubeShard(getenv)
		}
		return slurmShard(getenv)
	}
	if _, err := fmt.Sscanf(value, "%d/%d", &i, &n); err != nil || n < 1 || i < 0 || i >= n || fmt.Sprintf("%d/%d", i, n) != value {
		return 0, 0, "", fmt.Errorf("--shard %q: expected i/n with 0 <= i < n, or auto (from SLURM_ARRAY_TASK_ID)", value)
	}
	return i, n, "", nil
}

// slurmShard reads the shard of a Slurm array task: index SLURM_ARRAY_TASK_ID -
// SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT. The array must be a contiguous range
// (--array=A-B, any throttle %k), else indices and shards would not match one to one.
func slurmShard(getenv func(string) string) (int, int, string, error) {
	vars := []string{"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_COUNT"}
	v := make([]int, len(vars))
	for k, name := range vars {
		s := getenv(name)
		x, err := strconv.Atoi(s)
		if err != nil || x < 0 {
			return 0, 0, "", fmt.Errorf("--shard auto: %s is %q, expected a number (auto reads a Slurm array task's environment; elsewhere give --shard i/n)", name, s)
		}
		v[k] = x
	}
	id, lo, hi, count := v[0], v[1], v[2], v[3]
	if hi-lo+1 != count || id < lo || id > hi {
		return 0, 0, "", fmt.Errorf("--shard auto: the array is not one contiguous range (SLURM_ARRAY_TASK_MIN=%d, MAX=%d, COUNT=%d, ID=%d): submit it as --array=%d-%d, or give --shard i/n", lo, hi, count, id, lo, lo+count-1)
	}
	return id - lo, count, fmt.Sprintf("SLURM_ARRAY_TASK_ID=%d of %d-%d", id, lo, hi), nil
}

// kubeShard reads the shard of a pod of an Indexed Job.
func kubeShard(getenv func(string) string) (int, int, string, error) {
	i, err1 := strconv.Atoi(getenv("JOB_COMPLETION_INDEX"))
	n, err2 := strconv.Atoi(getenv("SAERUN_SHARDS"))
	if err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, "", fmt.Errorf("--shard auto: JOB_COMPLETION_INDEX=%q and SAERUN_SHARDS=%q: expected 0 <= index < shards (the kubernetes verb's manifest sets both)",
			getenv("JOB_COMPLETION_INDEX"), getenv("SAERUN_SHARDS"))
	}
	return i, n, fmt.Sprintf("JOB_COMPLETION_INDEX=%d, SAERUN_SHARDS=%d", i, n), nil
}

// clusterJob is what the cluster verbs share: the spec, where results go, how the
// binary is called, and the number of array tasks.
type clusterJob struct {
	Name     string   // the spec's name: results go to Out/Name
	Spec     string   // absolute path of the spec
	Runs     int      // runs in the sweep
	Tasks    int      // array tasks (shards)
	Binary   string   // this command, absolute
	Out      string   // results root, absolute
	WorkDir  string   // where tasks start (the submitting folder)
	RunFlags []string // flags every task passes to the main command (--backend, --set, ...)
}

// SweepDir is the sweep's results folder.
func (j clusterJob) SweepDir() string { return filepath.Join(j.Out, j.Name) }

// runCommand is the main command a task runs on its shard; shard is a shell word.
func (j clusterJob) runCommand(shard string) []string {
	cmd := []string{j.Binary, "--out", j.Out, "--resume", "--shard", shard}
	cmd = append(cmd, j.RunFlags...)
	return append(cmd, j.Spec)
}

// finishCommands is the dependent job's work, in order, once every task has ended
// (completed, failed or cancelled): compact the sweep's per-run files, then write the
// report. Both are verbs of this binary; report needs Jupyter (scripts/setup.sh).
func (j clusterJob) finishCommands(report bool, jupyter string) [][]string {
	cmds := [][]string{{j.Binary, "compact", j.SweepDir()}}
	if report {
		r := []string{j.Binary, "report"}
		if jupyter != "" {
			r = append(r, "--jupyter", jupyter)
		}
		cmds = append(cmds, append(r, j.SweepDir()))
	}
	return cmds
}

// newClusterJob reads the spec (with the --set overrides) and fixes every path.
func newClusterJob(specPath string, tasks int, binary, out string, runFlags, sets []string) (clusterJob, error) {
	j, err := checkSpec(specPath, tasks, sets)
	if err != nil {
		return j, err
	}
	j.RunFlags = runFlags
	if j.Spec, err = filepath.Abs(specPath); err != nil {
		return j, err
	}
	if j.Out, err = filepath.Abs(out); err != nil {
		return j, err
	}
	if j.WorkDir, err = os.Getwd(); err != nil {
		return j, err
	}
	if binary == "" {
		if binary, err = os.Executable(); err != nil {
			return j, fmt.Errorf("cannot find this command's binary (%v): give --binary", err)
		}
		// go run builds into a temporary folder that is deleted when it exits.
		if strings.Contains(binary, string(filepath.Separator)+"go-build") {
			return j, fmt.Errorf("this command runs from go run's temporary build (%s), which the tasks cannot run later: build it (go build -o saerun ./experiments) and run ./saerun, or give --binary", binary)
		}
	}
	if j.Binary, err = filepath.Abs(binary); err != nil {
		return j, err
	}
	if st, err := os.Stat(j.Binary); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return j, fmt.Errorf("--binary %s: not an executable file", j.Binary)
	}
	return j, nil
}

// checkSpec reads the spec (with the --set overrides) and checks the task count.
func checkSpec(specPath string, tasks int, sets []string) (clusterJob, error) {
	j := clusterJob{Tasks: tasks}
	raw, err := os.ReadFile(specPath)
	if err != nil {
		return j, fmt.Errorf("%s: cannot read spec: %w", specPath, err)
	}
	s, _, err := spec.ParseWithSets(specPath, raw, sets)
	if err != nil {
		return j, err
	}
	j.Name, j.Runs = s.Name, sweep.Count(s)
	if tasks < 1 {
		return j, fmt.Errorf("--tasks %d: give the number of tasks, at least 1", tasks)
	}
	if tasks > j.Runs {
		return j, fmt.Errorf("--tasks %d: %s has %d runs, so at most %d tasks have work", tasks, specPath, j.Runs, j.Runs)
	}
	return j, nil
}

// slurmOptions are the sbatch settings of the slurm verb.
type slurmOptions struct {
	Partition, Time, Mem, Logs string
	Jupyter                    string // for the report verb; "" lets it find one
	GPUsPerTask, CPUsPerTask   int
	Report                     bool
}

// slurmScripts returns the array job's batch script and the dependent job's. Every
// value from the user is written for the language that reads it: #SBATCH values as
// sbatch reads a directive (sbatchWord), command words as bash reads them (shellQuote),
// and comments as Go-quoted text when they hold more than printable characters. A value
// an #SBATCH line cannot hold (a newline ends the directive) is refused, naming where
// it came from.
func slurmScripts(j clusterJob, o slurmOptions) (array, finish string, err error) {
	directive := func(b *strings.Builder, option, value, from string) {
		w, e := sbatchWord(value)
		if e != nil && err == nil {
			err = fmt.Errorf("%s %q: %v: sbatch reads each #SBATCH directive from one line of the script", from, value, e)
		}
		fmt.Fprintf(b, "#SBATCH --%s=%s\n", option, w)
	}
	head := func(b *strings.Builder, name, output string) {
		fmt.Fprintf(b, "#!/bin/bash\n")
		directive(b, "job-name", name, "the spec's name")
		directive(b, "chdir", j.WorkDir, "the current folder (the tasks' --chdir)")
		// --output is a filename pattern: a '%' of the folder is written %%.
		directive(b, "output", strings.ReplaceAll(o.Logs, "%", "%%")+string(filepath.Separator)+output, "--logs")
		fmt.Fprintf(b, "#SBATCH --open-mode=append\n")
		fmt.Fprintf(b, "#SBATCH --ntasks=1\n")
		if o.Partition != "" {
			directive(b, "partition", o.Partition, "--partition")
		}
		if o.Time != "" {
			directive(b, "time", o.Time, "--time")
		}
	}
	var a strings.Builder
	head(&a, "saerun-"+j.Name, "%x-%A_%a.log")
	fmt.Fprintf(&a, "#SBATCH --array=0-%d\n", j.Tasks-1)
	fmt.Fprintf(&a, "#SBATCH --requeue\n")
	if o.CPUsPerTask > 0 {
		fmt.Fprintf(&a, "#SBATCH --cpus-per-task=%d\n", o.CPUsPerTask)
	}
	if o.Mem != "" {
		directive(&a, "mem", o.Mem, "--mem")
	}
	if o.GPUsPerTask > 0 {
		fmt.Fprintf(&a, "#SBATCH --gpus-per-task=%d\n", o.GPUsPerTask)
	}
	fmt.Fprintf(&a, "# saerun: sweep %s, %d runs in %d shards; a task runs the runs with index = shard (mod %d).\n", commentText(j.Name), j.Runs, j.Tasks, j.Tasks)
	fmt.Fprintf(&a, "# --resume makes a requeued task skip its finished runs; --shard auto reads SLURM_ARRAY_TASK_*.\n")
	fmt.Fprintf(&a, "exec %s\n", shellJoin(j.runCommand("auto")))

	var f strings.Builder
	head(&f, "saerun-"+j.Name+"-finish", "%x-%j.log")
	fmt.Fprintf(&f, "# saerun: after every task of the array has ended (afterany): compact %s", commentText(j.SweepDir()))
	if o.Report {
		fmt.Fprintf(&f, " and write its report")
	}
	fmt.Fprintf(&f, ".\nset -euo pipefail\n")
	for _, c := range j.finishCommands(o.Report, o.Jupyter) {
		fmt.Fprintf(&f, "%s\n", shellJoin(c))
	}
	if err != nil {
		return "", "", err
	}
	return a.String(), f.String(), nil
}

// sbatchWord writes s as one word of an #SBATCH directive. sbatch splits a directive's
// line into words the way a shell would, without expanding anything: whitespace
// separates words, an unquoted '#' starts a comment, quotes group and a backslash
// escapes the next character (Slurm's _get_argument in src/sbatch/opt.c). A word with
// any other character than the plain ones is written in double quotes with '"' and '\'
// escaped. A line ends at a newline, so a value holding one (or a carriage return, or
// NUL, which C strings end at) cannot be written: that is an error. So is one holding
// "packjob" or "hetjob" in any case: sbatch blanks those words out of a directive line
// before splitting it (they separate the components of a heterogeneous job).
func sbatchWord(s string) (string, error) {
	if i := strings.IndexAny(s, "\n\r\x00"); i >= 0 {
		return strconv.Quote(s), fmt.Errorf("it holds %q, which an #SBATCH line cannot", s[i:i+1])
	}
	for _, w := range []string{"packjob", "hetjob"} {
		if strings.Contains(strings.ToLower(s), w) {
			return strconv.Quote(s), fmt.Errorf("it holds %q, which sbatch removes from an #SBATCH line", w)
		}
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !plainShellRune(r) }) < 0 {
		return s, nil
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`, nil
}

// commentText is s as a comment of a script or manifest shows it: as is when every
// character is printable, else Go-quoted, so that no value ends the comment's line.
func commentText(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	return strconv.Quote(s)
}

// heredocDelimiter returns a here-document delimiter (base, or base with a numeric
// suffix) that is no line of body, so that body cannot end the here-document early.
func heredocDelimiter(base, body string) string {
	lines := map[string]bool{}
	for _, l := range strings.Split(body, "\n") {
		lines[l] = true
	}
	d := base
	for i := 2; lines[d]; i++ {
		d = base + "_" + strconv.Itoa(i)
	}
	return d
}

// slurmSubmitScript is the printed form of --submit: a bash script that submits both
// batch scripts and prints their ids. It writes each batch script to a temporary file
// from a quoted here-document whose delimiter is no line of the script, outside any
// command substitution (which older bash parses by scanning for quotes), and gives the
// file to sbatch on its standard input.
func slurmSubmitScript(array, finish, logs string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/bash\n# Submit with: bash THIS_FILE (or pipe it to bash). Prints the array job id, then the finish job id.\nset -euo pipefail\n")
	fmt.Fprintf(&b, "mkdir -p -- %s\n", shellQuote(logs))
	fmt.Fprintf(&b, "scripts=$(mktemp -d)\ntrap 'rm -rf -- \"$scripts\"' EXIT\n")
	da, df := heredocDelimiter("SAERUN_ARRAY_JOB", array), heredocDelimiter("SAERUN_FINISH_JOB", finish)
	fmt.Fprintf(&b, "cat > \"$scripts/array.sh\" <<'%s'\n%s%s\n", da, array, da)
	fmt.Fprintf(&b, "cat > \"$scripts/finish.sh\" <<'%s'\n%s%s\n", df, finish, df)
	fmt.Fprintf(&b, "array=$(sbatch --parsable < \"$scripts/array.sh\")\n")
	fmt.Fprintf(&b, "finish=$(sbatch --parsable --kill-on-invalid-dep=yes --dependency=afterany:\"${array%%%%;*}\" < \"$scripts/finish.sh\")\n")
	fmt.Fprintf(&b, "echo \"array\t${array%%%%;*}\"\necho \"finish\t${finish%%%%;*}\"\n")
	return b.String()
}

// sbatch submits a batch script given on standard input and returns the job id.
func sbatch(script string, extra ...string) (string, error) {
	cmd := exec.Command("sbatch", append([]string{"--parsable"}, extra...)...)
	cmd.Stdin = strings.NewReader(script)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("sbatch %s: %w", strings.Join(extra, " "), err)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";") // "id;cluster" on federations
	if _, err := strconv.Atoi(id); err != nil {
		return "", fmt.Errorf("sbatch printed %q, expected a job id", out)
	}
	return id, nil
}

// taskFlags are the flags a task passes to the main command, paths made absolute.
func (r *runFlags) taskFlags() ([]string, error) {
	var f []string
	if r.backend != "" {
		b := r.backend
		if p, ok := strings.CutPrefix(b, "xla:"); ok && p != "" {
			abs, err := filepath.Abs(p)
			if err != nil {
				return nil, err
			}
			b = "xla:" + abs
		}
		f = append(f, "--backend", b)
	}
	if r.dataDir != "" {
		abs, err := filepath.Abs(r.dataDir)
		if err != nil {
			return nil, err
		}
		f = append(f, "--data-dir", abs)
	}
	if r.groupSize != 0 {
		f = append(f, "--group-size", strconv.Itoa(r.groupSize))
	}
	if r.logEvery != runner.DefaultLogEvery {
		f = append(f, "--log-every", r.logEvery.String())
	}
	if r.noCompact {
		f = append(f, "--no-compact")
	}
	for _, s := range r.sets {
		f = append(f, "--set", s)
	}
	return f, nil
}

func slurmCmd(name string, args []string) int {
	fs := newFlags(name+" [flags] SPEC.yaml --tasks N", `
Writes the Slurm batch scripts of a sweep: a job array of N tasks, each running its
shard of the sweep (--shard auto, from SLURM_ARRAY_TASK_ID) with --resume, so that a
requeued task skips what it finished, and a job that starts when every task has ended
(afterany) and compacts the results and writes the report (compact and report verbs).
Without --submit it prints a bash script that submits both (bash it, or pipe it to
bash); with --submit it submits them with sbatch and prints the two job ids. Tasks run
this binary (go build -o saerun ./experiments first: go run's build is temporary) from
the current folder, which, like --out, must be on a file system every node shares.
See docs/cluster.md.`)
	var rf runFlags
	rf.register(fs, false) // tasks never compact: the finish job does
	tasks := fs.Int("tasks", 0, "array tasks: the sweep is split into this many shards (required; at most the number of runs)")
	var o slurmOptions
	fs.StringVar(&o.Partition, "partition", "", "Slurm partition (sbatch --partition; default: the cluster's)")
	fs.StringVar(&o.Time, "time", "", "time limit of each task, as sbatch --time (e.g. 2:00:00; default: the partition's)")
	fs.StringVar(&o.Mem, "mem", "", "memory of each task, as sbatch --mem (e.g. 8G)")
	fs.IntVar(&o.GPUsPerTask, "gpus-per-task", 0, "GPUs of each task (sbatch --gpus-per-task); pair with --backend xla:/path/to/the/CUDA/plugin.so")
	fs.IntVar(&o.CPUsPerTask, "cpus-per-task", 0, "CPUs of each task (sbatch --cpus-per-task)")
	fs.StringVar(&o.Logs, "logs", "slurm-logs", "folder of the jobs' logs (one file per task)")
	noReport := fs.Bool("no-report", false, "the finish job compacts only (the report needs Jupyter on the node: scripts/setup.sh)")
	fs.StringVar(&o.Jupyter, "jupyter", "", "jupyter executable of the report (default: the report verb's, .venv/bin/jupyter of the checkout, else jupyter on PATH)")
	binary := fs.String("binary", "", "the saerun binary tasks run (default: this one)")
	submit := fs.Bool("submit", false, "submit the jobs with sbatch and print their ids, instead of printing the script")
	if code := parse(fs, reorder(fs, args)); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	o.Report = !*noReport
	if o.GPUsPerTask < 0 || o.CPUsPerTask < 0 {
		fmt.Fprintf(os.Stderr, "slurm: --gpus-per-task and --cpus-per-task must be 0 (not set) or more (got %d and %d)\n", o.GPUsPerTask, o.CPUsPerTask)
		return 2
	}
	// Tasks leave compaction to the finish job: two tasks ending at once on two nodes
	// would otherwise both find the sweep done, and on a file system whose flock is
	// node-local (docs/cluster.md) both compact.
	rf.noCompact = true
	tf, err := rf.taskFlags()
	if err == nil {
		o.Logs, err = filepath.Abs(o.Logs)
	}
	if err == nil && o.Jupyter != "" {
		o.Jupyter, err = filepath.Abs(o.Jupyter)
	}
	var j clusterJob
	if err == nil {
		j, err = newClusterJob(fs.Arg(0), *tasks, *binary, rf.out, tf, rf.sets)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "slurm:", err)
		return 2
	}
	array, finish, err := slurmScripts(j, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slurm:", err)
		return 2
	}
	if !*submit {
		fmt.Print(slurmSubmitScript(array, finish, o.Logs))
		return 0
	}
	if err := os.MkdirAll(o.Logs, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "slurm:", err)
		return 1
	}
	arrayID, err := sbatch(array)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slurm:", err)
		return 1
	}
	finishID, err := sbatch(finish, "--kill-on-invalid-dep=yes", "--dependency=afterany:"+arrayID)
	if err != nil {
		fmt.Fprintf(os.Stderr, "slurm: the array job %s is submitted, the finish job is not (%v): run %s compact %s when it ends\n", arrayID, err, j.Binary, j.SweepDir())
		fmt.Printf("array\t%s\n", arrayID)
		return 1
	}
	fmt.Fprintf(os.Stderr, "submitted sweep %s (%d runs): array job %s (%d tasks, logs in %s), then job %s (compact%s)\n",
		j.Name, j.Runs, arrayID, j.Tasks, o.Logs, finishID, map[bool]string{true: ", report", false: ""}[o.Report])
	fmt.Printf("array\t%s\nfinish\t%s\n", arrayID, finishID)
	return 0
}

// shellJoin quotes each word for bash.
func shellJoin(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}

// shellQuote writes s as one bash word: as is when it holds only plain characters,
// else in single quotes (inside which bash reads every byte literally, newlines
// included) with each ' written '\”.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !plainShellRune(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// plainShellRune reports whether r means itself to bash and to sbatch's directive
// parser wherever it stands in a word.
func plainShellRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=+,@%", r)
}
