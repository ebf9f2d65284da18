import { useCallback, useEffect, useState } from 'react';
import { api } from '../api/client';
import { messageOf } from '../api/errors';

/** Model ids from GET /v1/models, for pickers. */
export function useModelIds(): { ids: string[]; error?: string; loading: boolean; reload: () => void } {
  const [ids, setIds] = useState<string[]>([]);
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(true);
  const reload = useCallback(() => {
    setLoading(true);
    api
      .models()
      .then((r) => {
        setIds((r?.data ?? []).map((m) => m.id));
        setError(undefined);
      })
      .catch((e) => setError(`Could not list models: ${messageOf(e)}`))
      .finally(() => setLoading(false));
  }, []);
  useEffect(reload, [reload]);
  return { ids, error, loading, reload };
}
