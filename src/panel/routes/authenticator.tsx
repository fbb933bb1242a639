import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, type Reason } from '../../core/errors.js';
import {
  addOtpDevice,
  deleteOtpDevice,
  getOtpDevice,
  type OtpDeviceView,
  type OtpEnrolment,
  otpEnrolment,
  verifyOtpDevice,
} from '../../factors/totp/devices.js';
import type { Deps } from '../../services/deps.js';
import {
  Actions,
  Button,
  ButtonLink,
  Card,
  Checkbox,
  CodeField,
  PostForm,
  TextField,
} from '../components.js';
import { Layout } from '../layout.js';
import { PostedForm } from '../posted-form.js';
import { type PageContext, pageContext, sendPage } from '../render.js';
import { type PanelSession, setFlash, withSession } from '../session.js';
import { type Area, afterDeviceVerified, PROFILE_AREA, SETUP_AREA } from './areas.js';
import { VerifiedDevicePage } from './verified-device-page.js';

/** The base32 secret as people copy it: groups of four. */
export function inGroupsOfFour(secret: string): string {
  return secret.match(/.{1,4}/g)?.join(' ') ?? secret;
}

const NAME_ERRORS: Partial<Record<Reason, string>> = {
  'device-name-missing': 'Enter a nickname for the device.',
  'device-name-too-long': 'The nickname is too long: use at most 255 characters.',
  'device-name-invalid': 'The nickname may not contain control characters.',
};

function NewDevicePage({
  ctx,
  area,
  name,
  error,
}: {
  ctx: PageContext;
  area: Area;
  name?: string;
  error?: string | undefined;
}) {
  return (
    <Layout ctx={ctx} title="Use an Authenticator" width="narrow">
      <Card>
        <p class="lead">{area.flow}</p>
        <h1>Use an Authenticator</h1>
        <p>
          Install an authenticator app on your phone or computer, such as Google Authenticator, Microsoft
          Authenticator or Authy. Then give this device a name you will recognise.
        </p>
        <PostForm ctx={ctx} action={`${area.base}/authenticator`}>
          <TextField
            name="name"
            label="Device nickname"
            hint="For example: Work phone"
            value={name}
            error={error}
            required
            maxLength={255}
          />
          <Actions>
            <Button>Add Device</Button>
            <ButtonLink href={area.base === '/setup' ? '/setup/method' : '/profile'}>Cancel</ButtonLink>
          </Actions>
        </PostForm>
      </Card>
    </Layout>
  );
}

function PairPage({
  ctx,
  area,
  enrolment,
  error,
}: {
  ctx: PageContext;
  area: Area;
  enrolment: OtpEnrolment;
  error?: string | undefined;
}) {
  const verifyLabel = area.access === 'setup' ? 'Verify Code' : 'Verify Mobile Passcode';
  return (
    <Layout ctx={ctx} title="Scan the QR code" width="narrow">
      <Card>
        <p class="lead">{area.flow}</p>
        <h1>Pair your authenticator</h1>
        <ol class="steps">
          <li>In your authenticator app, choose to add an account and scan this QR code.</li>
          <li>Enter the 6-digit passcode the app then shows, and verify it.</li>
        </ol>
        <div class="qr">
          <img
            src={enrolment.qrcode}
            id="qr-code"
            width={220}
            height={220}
            alt={`QR code that adds the device “${enrolment.name}” to your authenticator app`}
          />
          <div>
            <p>
              Device: <strong class="device-name">{enrolment.name}</strong>
            </p>
            <p>Cannot scan? Type this secret key into the app instead:</p>
            <p>
              <code class="secret-key" id="secret-key" data-copy-text={enrolment.secret}>
                {inGroupsOfFour(enrolment.secret)}
              </code>
            </p>
            <p>
              <button
                type="button"
                class="button button-secondary button-small"
                data-copy="secret-key"
                hidden
              >
                Copy secret key
              </button>
              <span id="secret-key-copied" class="hint" role="status" />
            </p>
          </div>
        </div>
        <PostForm ctx={ctx} action={`${area.base}/authenticator/${enrolment.id}/verify`}>
          <CodeField name="code" label="Passcode from the app" error={error} required maxLength={16} />
          {area.access === 'full' ? (
            <Checkbox
              name="makeDefault"
              label="Make this my default authentication method"
              checked
              hint="You will be logged out, to log in again with a passcode from this device."
            />
          ) : null}
          <Actions>
            <Button>{verifyLabel}</Button>
            <ButtonLink href={area.base === '/setup' ? '/setup/method' : '/profile'}>
              {area.base === '/setup' ? 'Choose another method' : 'Back to My Profile & Settings'}
            </ButtonLink>
          </Actions>
        </PostForm>
      </Card>
    </Layout>
  );
}

function DevicePage({ ctx, device }: { ctx: PageContext; device: OtpDeviceView }) {
  return (
    <VerifiedDevicePage
      ctx={ctx}
      title={`Authenticator ${device.name}`}
      heading="Authenticator app"
      label={{ term: 'Device nickname', value: device.name, class: 'device-name' }}
      deleteAction={`/profile/authenticator/${device.id}/delete`}
    />
  );
}

const deviceParams = (request: FastifyRequest) =>
  (request.params as { deviceId: string }).deviceId.slice(0, 64);

function registerArea(app: FastifyInstance, deps: Deps, area: Area): void {
  const base = `${area.base}/authenticator`;

  app.get(
    `${base}/new`,
    withSession(deps, area.access, async (request, reply, session) =>
      sendPage(reply, <NewDevicePage ctx={pageContext(request, reply, session)} area={area} />),
    ),
  );

  app.post(
    base,
    withSession(deps, area.access, async (request, reply, session) => {
      const name = PostedForm.of(request).text('name', 1024).trim();
      try {
        const device = await addOtpDevice(deps, session, session.user, name);
        return reply.redirect(`${base}/${device.id}`, 303);
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 400) throw error;
        const text = (error.reason && NAME_ERRORS[error.reason]) ?? error.message;
        return sendPage(
          reply,
          <NewDevicePage ctx={pageContext(request, reply, session)} area={area} name={name} error={text} />,
          400,
        );
      }
    }),
  );

  const showPairing = async (
    request: FastifyRequest,
    reply: FastifyReply,
    session: PanelSession,
    deviceId: string,
    error?: string,
  ) => {
    const enrolment = await otpEnrolment(deps, session.user.id, deviceId);
    return sendPage(
      reply,
      <PairPage ctx={pageContext(request, reply, session)} area={area} enrolment={enrolment} error={error} />,
      error ? 400 : 200,
    );
  };

  app.get(
    `${base}/:deviceId`,
    withSession(deps, area.access, async (request, reply, session) => {
      const device = await getOtpDevice(deps.db, session.user.id, deviceParams(request));
      if (!device.verified) return showPairing(request, reply, session, device.id);
      if (area.access === 'setup') return reply.redirect('/setup/method', 303);
      return sendPage(reply, <DevicePage ctx={pageContext(request, reply, session)} device={device} />);
    }),
  );

  app.post(
    `${base}/:deviceId/verify`,
    withSession(deps, area.access, async (request, reply, session) => {
      const form = PostedForm.of(request);
      const code = form.text('code', 64).replace(/\s+/g, '');
      const deviceId = deviceParams(request);
      if (code === '')
        return showPairing(request, reply, session, deviceId, 'Enter the passcode the app shows.');
      try {
        await verifyOtpDevice(deps, session, session.user, deviceId, code);
      } catch (error) {
        if (!(error instanceof ApiError) || error.reason !== 'wrong-device-code') throw error;
        return showPairing(
          request,
          reply,
          session,
          deviceId,
          'The passcode is incorrect or has expired. Enter the passcode the app shows now.',
        );
      }
      const device = await getOtpDevice(deps.db, session.user.id, deviceId);
      return afterDeviceVerified(
        deps,
        area,
        request,
        reply,
        session,
        'OTP',
        form.checked('makeDefault'),
        `The authenticator “${device.name}” is verified.`,
      );
    }),
  );
}

export function registerAuthenticatorRoutes(app: FastifyInstance, deps: Deps): void {
  registerArea(app, deps, SETUP_AREA);
  registerArea(app, deps, PROFILE_AREA);

  app.post(
    '/profile/authenticator/:deviceId/delete',
    withSession(deps, 'full', async (request, reply, session) => {
      const deviceId = deviceParams(request);
      const device = await getOtpDevice(deps.db, session.user.id, deviceId);
      try {
        await deleteOtpDevice(deps, session, session.user, deviceId);
      } catch (error) {
        if (!(error instanceof ApiError) || error.reason !== 'last-verified-device') throw error;
        setFlash(
          request,
          reply,
          'error',
          'This is your only verified authenticator and your default method. Add another device or change the default method first.',
        );
        return reply.redirect('/profile', 303);
      }
      setFlash(request, reply, 'success', `The authenticator “${device.name}” was deleted.`);
      return reply.redirect('/profile', 303);
    }),
  );
}
