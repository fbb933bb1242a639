import type { FastifyInstance } from 'fastify';
import type { Deps } from '../../services/deps.js';
import { Actions, ButtonLink, Card } from '../components.js';
import { Layout } from '../layout.js';
import { type PageContext, pageContext, sendPage } from '../render.js';
import { withSession } from '../session.js';
import { type Area, MethodChooser, methodTarget, PROFILE_AREA, SETUP_AREA } from './areas.js';

function SetupIntroPage({ ctx }: { ctx: PageContext }) {
  return (
    <Layout ctx={ctx} title="Your account requires multi-factor authentication" width="narrow">
      <Card>
        <h1>Your account requires multi-factor authentication</h1>
        <p>
          To protect your account, your administrator requires a second step at every log in: a passcode from
          an authenticator app or from a text message, besides your password.
        </p>
        <p>Set it up now to access your account. It takes a few minutes.</p>
        <ButtonLink href="/setup/method" kind="primary">
          Set Up Multi-Factor Authentication
        </ButtonLink>
      </Card>
    </Layout>
  );
}

function ChooseMethodPage({ ctx, area }: { ctx: PageContext; area: Area }) {
  return (
    <Layout ctx={ctx} title="Choose Your Multi-Factor Authentication Method" width="narrow">
      <Card>
        <p class="lead">{area.flow}</p>
        <h1>Choose Your Multi-Factor Authentication Method</h1>
        <MethodChooser area={area} legendHidden />
      </Card>
    </Layout>
  );
}

function SetupDonePage({ ctx }: { ctx: PageContext }) {
  return (
    <Layout ctx={ctx} title="Multi-factor authentication is set up" width="narrow">
      <Card>
        <h1>Multi-factor authentication is set up</h1>
        <p>
          Your device is verified. From now on, you log in with your password and then a passcode from this
          device.
        </p>
        <p>Log in again now to begin.</p>
        <Actions>
          <ButtonLink href="/sign-in" kind="primary">
            Got It
          </ButtonLink>
        </Actions>
      </Card>
    </Layout>
  );
}

export function registerSetupRoutes(app: FastifyInstance, deps: Deps): void {
  app.get(
    '/setup',
    withSession(deps, 'setup', async (request, reply, session) =>
      sendPage(reply, <SetupIntroPage ctx={pageContext(request, reply, session)} />),
    ),
  );

  // The chooser posts nothing: its GET form lands here with ?method=..., so it works without script.
  for (const area of [SETUP_AREA, PROFILE_AREA]) {
    app.get(
      `${area.base}/method`,
      withSession(deps, area.access, async (request, reply, session) => {
        const method = (request.query as Record<string, unknown>).method;
        if (method !== undefined) return reply.redirect(methodTarget(area, method), 303);
        if (area.access === 'full') return reply.redirect('/profile/mfa/enable', 303);
        return sendPage(reply, <ChooseMethodPage ctx={pageContext(request, reply, session)} area={area} />);
      }),
    );
  }

  // The SETUP-MFA token is revoked by now (turning MFA on revokes it): this page needs no session.
  app.get('/setup/done', async (request, reply) =>
    sendPage(reply, <SetupDonePage ctx={pageContext(request, reply)} />),
  );
}
