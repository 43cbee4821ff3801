// Package cli holds dnspki's version and the subcommands plugins add to the
// dnspki binary (dnspki SUBCOMMAND ARGS...), besides running the server.
package cli

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// Version of dnspki.
const Version = "0.1.0"

// Command is one subcommand.
type Command struct {
	Name    string
	Summary string
	// Run gets the arguments after the subcommand name and returns the exit
	// status.
	Run func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]Command{}

// Register adds a subcommand (from a plugin's init).
func Register(c Command) {
	if _, dup := commands[c.Name]; dup {
		panic("cli: subcommand registered twice: " + c.Name)
	}
	commands[c.Name] = c
}

// Lookup returns the subcommand of that name.
func Lookup(name string) (Command, bool) {
	c, ok := commands[name]
	return c, ok
}

// Usage lists the subcommands.
func Usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  dnspki %-12s %s\n", n, commands[n].Summary)
	}
}

// Addr is the address of the endpoint a subcommand asks: the environment
// variable env if set, else def (the plugin's default).
func Addr(env, def string) string {
	if a := os.Getenv(env); a != "" {
		return a
	}
	return def
}
