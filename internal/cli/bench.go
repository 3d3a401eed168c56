package cli

import "github.com/spf13/cobra"

func newBenchCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:    "bench",
		Short:  "(not implemented yet)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errNotImplemented
		},
	}
}
