package main

// Hostile strings against the generated artifacts (issue 23): every value a user
// gives reaches its target language quoted, or is refused by name.

// hostileStrings are values a user could give as a path, a flag or a spec value, each
// aimed at one way a generator could go wrong.
var hostileStrings = []string{
	"a\nb",               // newline: a new command or directive
	"a\rb",               // carriage return
	"it's",               // single quote
	`say "hi"`,           // double quote
	`back\slash\`,        // backslash, also at the end
	`$(touch "$PWNED")`,  // command substitution
	"`touch \"$PWNED\"`", // backticks
	"${PWNED:?}",         // parameter expansion
	"#not a comment",     // '#'
	"x\nSAERUN_ARRAY_JOB\ntouch \"$PWNED\"\n", // the submit script's heredoc terminators
	"x\nSAERUN_FINISH_JOB\ntouch \"$PWNED\"",
	"SAERUN_ARRAY_JOB",
	"{{.Name}} {{ x }}",                  // template syntax
	"</script><script>alert(1)</script>", // HTML
	"<img src=x onerror=alert(1)>",
	"My Projects\tand tabs", // spaces and tabs
	"\xff\xfe not UTF-8",    // non-UTF-8 bytes
	"-leading-dash",         // an option's look
	"--out=/elsewhere",
	"100%j %x %%",               // Slurm's filename patterns
	"key: value\n- item\n---\n", // YAML structure
	"'; touch \"$PWNED\"; echo '",
	"x)\n)\n' ) # `(", // parentheses and quotes left open
}
