package exporters

import (
	"context"
	"os"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// newResource describes this process. From lowest to highest precedence:
//
//  1. detected: telemetry.sdk.*, host.name, process.pid,
//     process.executable.name, process.command (argv[0] only) and
//     process.runtime.*; never process.command_args nor
//     process.command_line, which may carry passwords given as flags;
//  2. a random service.instance.id (a UUID), so that two replicas of a
//     service do not overwrite each other's series;
//  3. OTEL_RESOURCE_ATTRIBUTES;
//  4. service.name by the rule pools uses for client names
//     (internal/servicename): OTEL_SERVICE_NAME, else service.name in
//     OTEL_RESOURCE_ATTRIBUTES, else WithDefaultServiceName, else the
//     executable's name;
//  5. WithResourceAttributes.
//
// The detectors are chosen one by one: resource.Default and
// resource.WithFromEnv read the process environment directly, which would
// bypass WithLookup.
func newResource(ctx context.Context, c *config, s settings) *resource.Resource {
	detected, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithProcessRuntimeDescription(),
	)
	if err != nil {
		// A detector that fails (no hostname, say) leaves the others' attributes;
		// that is no reason to run without metrics.
		otel.Handle(err)
	}

	attrs := make([]attribute.KeyValue, 0, 4+len(s.resourceAttrs)+len(c.resourceAttrs))
	if len(os.Args) > 0 && os.Args[0] != "" {
		attrs = append(attrs, semconv.ProcessCommand(os.Args[0]))
	}
	attrs = append(attrs, semconv.ServiceInstanceID(uuid.NewString()))
	attrs = append(attrs, s.resourceAttrs...)
	attrs = append(attrs, semconv.ServiceName(s.serviceName))
	attrs = append(attrs, c.resourceAttrs...)

	// NewSchemaless: a later duplicate key wins, and the merge keeps the
	// detectors' schema URL.
	res, err := resource.Merge(detected, resource.NewSchemaless(attrs...))
	if err != nil {
		otel.Handle(err)
		return resource.NewSchemaless(attrs...)
	}
	return res
}
