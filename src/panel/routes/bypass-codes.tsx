import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../core/errors.js';
import { generateBypassCodes, MAX_SELF_SERVICE_CODES } from '../../factors/bypass-codes/generate.js';
import type { Deps } from '../../services/deps.js';
import { Actions, Banner, Button, ButtonLink, Card, PostForm, SelectField } from '../components.js';
import { Layout } from '../layout.js';
import { PostedForm } from '../posted-form.js';
import { type PageContext, pageContext, sendPage } from '../render.js';
import { setFlash, withSession } from '../session.js';

const REPLACES_WARNING =
  'Generating new bypass codes replaces your earlier ones: every code you generated before stops working.';

function GeneratePage({ ctx }: { ctx: PageContext }) {
  const counts = Array.from({ length: MAX_SELF_SERVICE_CODES }, (_, index) => String(index + 1));
  return (
    <Layout ctx={ctx} title="Generate Bypass Codes" width="narrow">
      <Card>
        <p class="lead">My Profile & Settings</p>
        <h1>Generate Bypass Codes</h1>
        <p>
          A bypass code lets you log in without your device: enter it where the passcode is asked for. Each
          code works once and does not expire. Keep them somewhere safe, away from your device.
        </p>
        <Banner tone="info">{REPLACES_WARNING}</Banner>
        <PostForm ctx={ctx} action="/profile/bypass-codes">
          <SelectField
            name="count"
            label="Number of codes"
            options={counts.map((value) => ({ value, label: value }))}
            value="5"
          />
          <Actions>
            <Button>Generate Bypass Codes</Button>
            <ButtonLink href="/profile">Cancel</ButtonLink>
          </Actions>
        </PostForm>
      </Card>
    </Layout>
  );
}

/** The codes as a text file, for the download link: made on the server, so it needs no script. */
export function bypassCodesFile(username: string, codes: string[]): string {
  return [
    `Latchkey bypass codes for ${username}`,
    'Each code works once, in place of a passcode. Generating new codes makes these stop working.',
    '',
    ...codes,
    '',
  ].join('\n');
}

function CodesPage({ ctx, username, codes }: { ctx: PageContext; username: string; codes: string[] }) {
  const file = bypassCodesFile(username, codes);
  return (
    <Layout ctx={ctx} title="Your bypass codes" width="narrow">
      <Card>
        <p class="lead">My Profile & Settings</p>
        <h1>Your bypass codes</h1>
        <Banner tone="success">
          {codes.length === 1
            ? 'Your new bypass code is ready.'
            : `Your ${codes.length} new bypass codes are ready.`}{' '}
          They are shown only this once: copy or download them now.
        </Banner>
        <ul class="codes" id="bypass-codes" aria-label="Bypass codes" data-copy-text={codes.join('\n')}>
          {codes.map((code) => (
            <li key={code}>{code}</li>
          ))}
        </ul>
        <Actions>
          <button type="button" class="button button-secondary" data-copy="bypass-codes" hidden>
            Copy Codes
          </button>
          <a
            class="button button-secondary"
            href={`data:text/plain;charset=utf-8,${encodeURIComponent(file)}`}
            download="latchkey-bypass-codes.txt"
          >
            Download as Text File
          </a>
          <ButtonLink href="/profile" kind="primary">
            Done
          </ButtonLink>
        </Actions>
        <p id="bypass-codes-copied" class="hint" role="status" />
        <p class="hint">{REPLACES_WARNING}</p>
      </Card>
    </Layout>
  );
}

export function registerBypassCodeRoutes(app: FastifyInstance, deps: Deps): void {
  app.get(
    '/profile/bypass-codes',
    withSession(deps, 'full', async (request, reply, session) => {
      if (session.user.mfa_enabled !== 1) return reply.redirect('/profile', 303);
      return sendPage(reply, <GeneratePage ctx={pageContext(request, reply, session)} />);
    }),
  );

  // The codes are rendered in the answer to the POST and nowhere else: they exist in clear only
  // in this one no-store page.
  app.post(
    '/profile/bypass-codes',
    withSession(deps, 'full', async (request, reply, session) => {
      const count = PostedForm.of(request).text('count', 4);
      try {
        const batch = await generateBypassCodes(deps, session, session.user, {
          numberOfCodes: count,
        });
        return sendPage(
          reply,
          <CodesPage
            ctx={pageContext(request, reply, session)}
            username={session.user.username}
            codes={batch.codes}
          />,
        );
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 400) throw error;
        setFlash(request, reply, 'error', error.message);
        return reply.redirect('/profile', 303);
      }
    }),
  );
}
