// Progressive enhancements only: every page works without this script.

document.addEventListener('DOMContentLoaded', () => {
  // Copy buttons: <button data-copy="element-id" hidden>. Shown only where the clipboard works.
  for (const button of document.querySelectorAll('button[data-copy]')) {
    if (!navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener('click', async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      const text = source.dataset.copyText ?? source.innerText;
      const status = document.getElementById(`${button.dataset.copy}-copied`);
      try {
        await navigator.clipboard.writeText(text);
        if (status) status.textContent = 'Copied to the clipboard.';
      } catch {
        if (status) status.textContent = 'Copying failed: select the text and copy it by hand.';
      }
    });
  }
  // The user-name menu and a record's Actions menu close when Escape is pressed or a click
  // lands elsewhere.
  for (const menu of document.querySelectorAll('details.user-menu, details.actions-menu')) {
    menu.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && menu.open) {
        menu.open = false;
        menu.querySelector('summary')?.focus();
      }
    });
    document.addEventListener('click', (event) => {
      if (menu.open && !menu.contains(event.target)) menu.open = false;
    });
  }
});
