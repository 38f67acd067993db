// Package logctx carries log fields in a context, so the lines a shared component writes on behalf of
// one call name that call. The Graph reader and the SCIM client are built once per job, but every line
// they log during a cycle must carry the cycle's id: the engine puts the field in the cycle's context
// and they add it to their own logger, keeping their own fields.
package logctx

import (
	"context"

	"go.uber.org/zap"
)

type key struct{}

// With returns ctx carrying fields in addition to those ctx already carries.
func With(ctx context.Context, fields ...zap.Field) context.Context {
	if len(fields) == 0 {
		return ctx
	}
	prev, _ := ctx.Value(key{}).([]zap.Field)
	all := make([]zap.Field, 0, len(prev)+len(fields))
	all = append(append(all, prev...), fields...)
	return context.WithValue(ctx, key{}, all)
}

// Logger returns base with the fields ctx carries; base itself when it carries none.
func Logger(ctx context.Context, base *zap.Logger) *zap.Logger {
	fields, _ := ctx.Value(key{}).([]zap.Field)
	if len(fields) == 0 {
		return base
	}
	return base.With(fields...)
}
