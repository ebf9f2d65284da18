// Wire shapes of the daemon's HTTP API, in one place. Field names follow the OpenAI and Ollama
// APIs the daemon implements; the /api/mlxr/* shapes are the daemon's own UI endpoints.

// ---- OpenAI-compatible (/v1) ----
export interface ModelEntry {
  id: string;
  object?: string;
  created?: number;
  owned_by?: string;
}
export interface ModelList {
  object?: string;
  data: ModelEntry[];
}

export type Role = 'system' | 'user' | 'assistant';
export interface ChatMessage {
  role: Role;
  content: string;
}

/** Sampling controls shared by chat and completion requests. */
export interface SamplingParams {
  temperature: number;
  top_p: number;
  top_k: number;
  max_tokens: number;
  seed?: number;
  stop?: string[];
}

export interface ChatCompletionRequest extends Partial<SamplingParams> {
  model: string;
  messages: ChatMessage[];
  stream: boolean;
  stream_options?: { include_usage: boolean };
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ChatCompletionChunk {
  id?: string;
  object?: string;
  model?: string;
  choices: { index: number; delta: { role?: Role; content?: string | null }; finish_reason?: string | null }[];
  usage?: Usage | null;
}

export interface CompletionRequest extends Partial<SamplingParams> {
  model: string;
  prompt: string;
  stream: boolean;
  stream_options?: { include_usage: boolean };
}
export interface CompletionChunk {
  id?: string;
  choices: { index: number; text: string; finish_reason?: string | null }[];
  usage?: Usage | null;
}

export interface EmbeddingsRequest {
  model: string;
  input: string | string[];
}
export interface EmbeddingsResponse {
  data: { index: number; embedding: number[]; object?: string }[];
  model?: string;
  usage?: { prompt_tokens: number; total_tokens: number };
}

// ---- Ollama-compatible (/api) ----
export interface ModelDetails {
  format?: string;
  family?: string;
  families?: string[] | null;
  parameter_size?: string;
  quantization_level?: string;
  /** Set on the demo model that carries random weights (it generates noise). */
  random_weights?: boolean;
}
export interface TagModel {
  name: string;
  model?: string;
  modified_at?: string;
  size: number;
  digest?: string;
  details?: ModelDetails;
}
export interface TagList {
  models: TagModel[];
}
export interface RunningModel extends TagModel {
  size_vram?: number;
  expires_at?: string;
}
export interface ShowResponse {
  details?: ModelDetails;
  model_info?: Record<string, unknown>;
  parameters?: string;
  template?: string;
  modelfile?: string;
  license?: string;
  /** MLXR's full registry record of the model. */
  mlxr?: Record<string, unknown>;
}
/** One NDJSON line of /api/pull or /api/create. A line with `error` ends the stream in failure. */
export interface ProgressLine {
  status?: string;
  digest?: string;
  total?: number;
  completed?: number;
  error?: string;
}
export interface VersionResponse {
  version: string;
}

// ---- MLXR UI endpoints (/api/mlxr) ----
export type ConfigValue = string | number | boolean | null;
/** Runtime settings as the daemon reports them: a (possibly nested) object of values. */
export type ConfigObject = { [key: string]: ConfigValue | ConfigObject };

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export interface LogEntry {
  seq: number;
  ts: string | number;
  level: LogLevel | string;
  msg: string;
  fields?: Record<string, unknown>;
}
