// Command tend is a production process manager: CLI and daemon in one binary.
package main

import (
	"os"

	"github.com/tendhq/tend/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
