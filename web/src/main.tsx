import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App, type InitialAuth } from './App';
import { createOperatorAuth, isCallbackUrl } from './auth';
import { loadConfig } from './config';
import { applyContentSecurityPolicy } from './csp';
import './styles.css';

const root = createRoot(document.getElementById('root')!);
void loadConfig().then(async (config) => {
  // Before the sign-in or a call connects anywhere: the page may reach only what config.json names.
  applyContentSecurityPolicy(config);
  const auth = createOperatorAuth(config.auth);
  // Back from the issuer: exchange the code (PKCE) before anything renders, then drop it from the URL.
  let initialAuth: InitialAuth;
  if (isCallbackUrl(window.location.search)) {
    const done = await auth.completeCallback();
    initialAuth = { operator: done.operator, error: done.error };
  } else {
    initialAuth = { operator: await auth.current().catch(() => null), error: null };
  }
  root.render(
    <StrictMode>
      <App config={config} auth={auth} initialAuth={initialAuth} />
    </StrictMode>,
  );
});
