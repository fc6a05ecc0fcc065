package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
)

// APIHandler builds the self-service HTTP API's handler (internal/api)
// from the App: its JWT verifier, registry, ledger, verifier and the
// export function it queues redeliveries on. log receives its lines.
func (a *App) APIHandler(ctx context.Context, log *slog.Logger) (http.Handler, error) {
	return nil, errors.New("the HTTP API is not built yet")
}
