package cli

import "github.com/spf13/cobra"

func newBrokerCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:    "broker",
		Short:  "(not implemented yet)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errNotImplemented
		},
	}
}
