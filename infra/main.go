// Command infra is the CDK app: `cdk synth` and `cdk deploy` run it from
// this folder (cdk.json). The settings come from the CDK context (cdk.json,
// or `-c key=value`); see docs/deploy.md.
//
// A thin main: it imports infra/stack and the CDK only, builds the stack
// from the context and synthesizes it. Like the stack it must not link a
// function's package (internal/*fn) or internal/localdev: the layout tests
// (internal/localdev/layout) check both.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/infra/stack"
)

func main() {
	app := awscdk.NewApp(nil)
	props, err := stack.PropsFromContext(app.Node())
	if err == nil {
		props = props.Defaults()
		_, err = stack.New(app, "auditlogs-"+props.StageName, props)
	}
	if err != nil {
		jsii.Close()
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
	app.Synth(nil)
	jsii.Close()
}
