// API errors, shown as the daemon said them.
export function ErrorBox({ error, onDismiss }: { error: string | undefined; onDismiss?: () => void }) {
  if (!error) return null;
  return (
    <div className="error" role="alert">
      <span className="error-text">{error}</span>
      {onDismiss && (
        <button type="button" className="link-button" onClick={onDismiss} aria-label="Dismiss error">
          Dismiss
        </button>
      )}
    </div>
  );
}
