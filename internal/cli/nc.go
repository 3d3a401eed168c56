package cli

import "github.com/spf13/cobra"

func newNcCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:    "nc",
		Short:  "(not implemented yet)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errNotImplemented
		},
	}
}
