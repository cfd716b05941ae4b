package transport

import "context"

type operationKey struct{}

// Operation names one Microsoft API call for metrics and logs. API is "graph",
// "botframework" or "entra"; Name is a stable lowerCamelCase verb such as
// "sendActivity". Neither ever carries an id.
type Operation struct {
	API  string
	Name string
}

// WithOperation labels the requests made with ctx.
func WithOperation(ctx context.Context, api, name string) context.Context {
	return context.WithValue(ctx, operationKey{}, Operation{API: api, Name: name})
}

// OperationFrom returns the label set by WithOperation, or "unknown".
func OperationFrom(ctx context.Context) Operation {
	if op, ok := ctx.Value(operationKey{}).(Operation); ok {
		return op
	}
	return Operation{API: "unknown", Name: "unknown"}
}
