package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func pm2Deploy(cmd *cobra.Command, e *env, file, envName string, args []string, appName string) error {
	return errors.New("not yet")
}
