/// <reference types="vite/client" />
interface ImportMetaEnv {
  readonly VITE_API_URL?: string;
  readonly VITE_LIVEKIT_URL?: string;
  readonly VITE_OIDC_ISSUER?: string;
  readonly VITE_OIDC_CLIENT_ID?: string;
  readonly VITE_OIDC_SCOPE?: string;
  readonly VITE_RECORDINGS_ORIGIN?: string;
  readonly VITE_OIDC_ENDPOINTS_ORIGIN?: string;
}
interface ImportMeta {
  readonly env: ImportMetaEnv;
}
