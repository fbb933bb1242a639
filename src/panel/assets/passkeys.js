// The browser's passkey prompt, on the pages that ask for one (served with the WebAuthn library,
// /assets/vendor/simplewebauthn-browser.js). The form carries the ceremony's options; the answer
// goes back in its `response` field. Without this script the page says passkeys need JavaScript.

document.addEventListener('DOMContentLoaded', () => {
  const form = document.querySelector('form[data-passkey]');
  if (!form) return;
  const start = form.querySelector('[data-passkey-start]');
  const status = document.getElementById('passkey-status');
  const webauthn = window.SimpleWebAuthnBrowser;
  for (const note of document.querySelectorAll('[data-passkey-nojs]')) note.hidden = true;
  if (!webauthn?.browserSupportsWebAuthn()) {
    status.textContent = 'This browser cannot use passkeys or security keys. Use Another Method.';
    return;
  }
  start.hidden = false;
  start.addEventListener('click', async () => {
    start.disabled = true;
    status.textContent = '';
    try {
      const optionsJSON = JSON.parse(form.dataset.options);
      const answer =
        form.dataset.passkey === 'register'
          ? await webauthn.startRegistration({ optionsJSON })
          : await webauthn.startAuthentication({ optionsJSON });
      form.querySelector('input[name="response"]').value = JSON.stringify(answer);
      form.submit();
    } catch {
      status.textContent = 'The passkey prompt was closed or did not finish. Choose the button to try again.';
      start.disabled = false;
    }
  });
});
