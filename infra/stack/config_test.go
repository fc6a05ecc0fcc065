package stack_test

import (
	"strings"
	"testing"

	"github.com/contentful/auditlogs/infra/stack"
	"github.com/contentful/auditlogs/internal/config"
)

// TestEnvironmentIsTheConfigContract feeds each function's synthesized
// environment into config.Validate, the check of internal/config's
// contract: an AUDITLOG_* variable the function does not read, a required
// one the stack forgot, or a value FromEnv would refuse fails here, at
// synth, rather than at the function's cold start. References to other
// resources are rendered as ${...} strings, which stand for the names and
// ARNs CloudFormation fills in. Both the default stack and one with every
// optional context set are checked, so each branch of the environment is;
// the compaction function's too (config.Compact, read with FromEnvFor),
// and the HTTP API's (config.API).
func TestEnvironmentIsTheConfigContract(t *testing.T) {
	full := synth(t, stack.StackProps{StageName: "prod", IngestIncludePOST: true, LogStoreRetentionDays: 30, FanOutConcurrency: 8,
		APIJWKSURL: "https://keys.idp.example.com/jwks", APICorsOrigins: []string{"https://console.example.com"}})
	for name, s := range map[string]*synthesized{"defaults": defaults(t), "full": full} {
		fns := map[config.Function]string{
			config.Export: s.id(t, s.st.Export), config.Retry: s.id(t, s.st.Retry),
			config.FanOut: s.id(t, s.st.FanOut), config.Ingest: s.id(t, s.st.Ingest),
			config.Compact: s.id(t, s.st.Compact), config.API: s.id(t, s.st.API),
		}
		if len(fns) != len(config.Functions) || len(stack.Functions) != len(config.Functions) {
			t.Fatalf("the stack deploys %v, the configuration contract knows %v", stack.Functions, config.Functions)
		}
		for f, id := range fns {
			env := map[string]string{}
			vars, _ := prop(s.resource(t, id), "Properties", "Environment", "Variables").(map[string]interface{})
			for k, v := range vars {
				env[k] = render(v)
			}
			if len(env) == 0 {
				t.Errorf("%s: the %s function has no environment", name, f)
				continue
			}
			if err := config.Validate(env, f); err != nil {
				t.Errorf("%s: the %s function's environment: %v", name, f, err)
			}
			// And as the function's cold start reads it.
			if _, err := config.FromMapFor(env, f); err != nil {
				t.Errorf("%s: the %s function's cold start: %v", name, f, err)
			}
			for k := range env {
				if !strings.HasPrefix(k, config.Prefix) && !strings.HasPrefix(k, "AWS_") {
					t.Errorf("%s: the %s function's variable %s is neither the contract's nor AWS's", name, f, k)
				}
			}
		}
	}
}
