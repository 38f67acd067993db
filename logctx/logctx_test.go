package logctx

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestLoggerAddsTheContextFields(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	base := zap.New(core).With(zap.String("component", "scim"))
	ctx := With(With(context.Background(), zap.String("cycle", "c1")), zap.String("job", "gong"))
	Logger(ctx, base).Info("line")
	Logger(context.Background(), base).Info("plain")
	if Logger(context.Background(), base) != base || With(ctx) != ctx {
		t.Error("no fields must give back the same logger and context")
	}
	all := logs.All()
	if len(all) != 2 {
		t.Fatalf("%d lines", len(all))
	}
	got := all[0].ContextMap()
	if got["cycle"] != "c1" || got["job"] != "gong" || got["component"] != "scim" {
		t.Errorf("fields %v", got)
	}
	if _, ok := all[1].ContextMap()["cycle"]; ok {
		t.Errorf("a context without fields added cycle: %v", all[1].ContextMap())
	}
}
