// Package servicename is the one rule by which poolscope names the service
// a process belongs to, shared by pools (the service part of the client
// names in CLIENT LIST, "service:role:pid") and exporters (the service.name
// resource attribute), so that the server-side and the client-side views of
// one service agree.
//
// The rule, first match wins (the OpenTelemetry SDK's order):
//
//  1. OTEL_SERVICE_NAME;
//  2. service.name in OTEL_RESOURCE_ATTRIBUTES;
//  3. the program's default (pools.WithDefaultServiceName,
//     exporters.WithDefaultServiceName);
//  4. the executable's file name (os.Executable, else argv[0]);
//  5. "unknown_service".
//
// Blank values (empty or only spaces) count as unset.
package servicename
