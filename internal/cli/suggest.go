package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/tendhq/tend/internal/conf"
)

// Misspelt commands and flags get the nearest known name, by the same
// measure as misspelt ecosystem keys (conf.Nearest), in place of cobra's
// own suggestions.

// group makes cmd a command of subcommands: run bare it prints its help;
// given an unknown subcommand it names the nearest one.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = unknownCommand
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return cmd
}

func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
			names = append(names, c.Aliases...)
		}
	}
	hint := ""
	if n := conf.Nearest(args[0], names); n != "" {
		hint = fmt.Sprintf(" (did you mean %s?)", strings.TrimPrefix(cmd.CommandPath()+" "+n, cmd.Root().Name()+" "))
	}
	return fmt.Errorf("unknown command %q%s; see `%s --help`", args[0], hint, cmd.CommandPath())
}

// unknownFlag names the nearest flag of the command for an unknown one.
func unknownFlag(cmd *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if !errors.As(err, &ne) || len(ne.GetSpecifiedName()) < 2 {
		return err
	}
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	name := ne.GetSpecifiedName()
	if n := conf.Nearest(name, names); n != "" {
		return fmt.Errorf("unknown flag --%s for `%s` (did you mean --%s?)", name, cmd.CommandPath(), n)
	}
	return fmt.Errorf("unknown flag --%s for `%s`; see `%s --help`", name, cmd.CommandPath(), cmd.CommandPath())
}
