import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../core/errors.js';
import {
  addPhone,
  formatPhoneNumber,
  getPhone,
  internationalNumber,
  type PhoneView,
  phoneCountries,
  removePhone,
  sendVerificationPin,
  verifyPhone,
} from '../../factors/sms/phones.js';
import type { Deps } from '../../services/deps.js';
import {
  Actions,
  Button,
  ButtonLink,
  Card,
  Checkbox,
  CodeField,
  type Option,
  PostForm,
  SelectField,
  TextField,
} from '../components.js';
import { Layout } from '../layout.js';
import { PostedForm } from '../posted-form.js';
import { type PageContext, pageContext, sendPage } from '../render.js';
import { type PanelSession, setFlash, withSession } from '../session.js';
import { type Area, afterDeviceVerified, PROFILE_AREA, SETUP_AREA } from './areas.js';
import { VerifiedDevicePage } from './verified-device-page.js';

/** Seed 000/001 "Invalid phone number". */
export const INVALID_NUMBER_TEXT =
  'The phone number is invalid. Check that you selected the right country code and entered a valid phone number with no extra characters or spaces.';
/** Seed 000/001 "Invalid PIN when verifying device". */
export const INVALID_PIN_TEXT =
  'The PIN is incorrect or has expired. Check that you entered the 4-digit PIN from the text message sent to your mobile phone, or choose Resend PIN.';

let countryOptions: Option[] | undefined;

/** "United States (+1)", sorted by name: the seeds' country code selector. */
function countries(): Option[] {
  if (!countryOptions) {
    const names = new Intl.DisplayNames(['en'], { type: 'region' });
    countryOptions = phoneCountries()
      .map(({ code, callingCode }) => ({ value: code, label: `${names.of(code) ?? code} (+${callingCode})` }))
      .sort((a, b) => a.label.localeCompare(b.label, 'en'));
  }
  return countryOptions;
}

/** What a refused send or add says on the page. */
function smsErrorText(error: ApiError): string {
  if (error.reason === 'phone-invalid') return INVALID_NUMBER_TEXT;
  if (error.reason === 'country-not-allowed') return 'Text messages cannot be sent to this country.';
  if (error.reason === 'phone-is-factor')
    return 'Your phone is your default authentication method, so it cannot be replaced. Change the default method, or turn multi-factor authentication off, first.';
  return error.message;
}

function NewPhonePage({
  ctx,
  area,
  country = 'US',
  number,
  error,
}: {
  ctx: PageContext;
  area: Area;
  country?: string;
  number?: string;
  error?: string | undefined;
}) {
  return (
    <Layout ctx={ctx} title="Register SMS Device" width="narrow">
      <Card>
        <p class="lead">{area.flow}</p>
        <h1>Register SMS Device</h1>
        <p>We will send a text message with a 4-digit PIN to this phone, to check that it is yours.</p>
        <PostForm ctx={ctx} action={`${area.base}/sms`}>
          <div class="phone-row">
            <SelectField
              name="country"
              label="Country code"
              options={countries()}
              value={country}
              autoComplete="tel-country-code"
            />
            <TextField
              name="number"
              label="Phone number"
              type="tel"
              autoComplete="tel-national"
              inputMode="tel"
              value={number}
              error={error}
              required
              maxLength={32}
            />
          </div>
          <Actions>
            <Button>Add SMS Device</Button>
            <ButtonLink href={area.base === '/setup' ? '/setup/method' : '/profile'}>Cancel</ButtonLink>
          </Actions>
        </PostForm>
      </Card>
    </Layout>
  );
}

function VerifyPhonePage({
  ctx,
  area,
  phone,
  error,
}: {
  ctx: PageContext;
  area: Area;
  phone: PhoneView;
  error?: string | undefined;
}) {
  return (
    <Layout ctx={ctx} title="Verify SMS Device" width="narrow">
      <Card>
        <p class="lead">{area.flow}</p>
        <h1>Verify SMS Device</h1>
        <p>
          Enter the 4-digit PIN from the text message sent to{' '}
          <strong>{formatPhoneNumber(phone.number)}</strong>. It is valid for 10 minutes.
        </p>
        <PostForm ctx={ctx} action={`${area.base}/sms/${phone.id}/verify`}>
          <CodeField name="pin" label="PIN" error={error} required maxLength={8} />
          {area.access === 'full' ? (
            <Checkbox
              name="makeDefault"
              label="Make this my default authentication method"
              checked
              hint="You will be logged out, to log in again with a passcode sent to this phone."
            />
          ) : null}
          <Button>Verify SMS Device</Button>
        </PostForm>
        <PostForm ctx={ctx} action={`${area.base}/sms/${phone.id}/resend`} class="secondary-form">
          <p class="hint">Did not get the text message?</p>
          <Actions>
            <Button kind="secondary">Resend PIN</Button>
            <ButtonLink href={area.base === '/setup' ? '/setup/method' : '/profile'}>
              {area.base === '/setup' ? 'Choose another method' : 'Back to My Profile & Settings'}
            </ButtonLink>
          </Actions>
        </PostForm>
      </Card>
    </Layout>
  );
}

function PhonePage({ ctx, phone }: { ctx: PageContext; phone: PhoneView }) {
  return (
    <VerifiedDevicePage
      ctx={ctx}
      title="SMS device"
      heading="SMS device"
      label={{ term: 'Phone number', value: formatPhoneNumber(phone.number) }}
      deleteAction={`/profile/sms/${phone.id}/delete`}
    >
      <p class="hint">To change the number, delete this device and register the new number.</p>
    </VerifiedDevicePage>
  );
}

const phoneParam = (request: FastifyRequest) => (request.params as { phoneId: string }).phoneId.slice(0, 64);

function registerArea(app: FastifyInstance, deps: Deps, area: Area): void {
  const base = `${area.base}/sms`;

  app.get(
    `${base}/new`,
    withSession(deps, area.access, async (request, reply, session) =>
      sendPage(reply, <NewPhonePage ctx={pageContext(request, reply, session)} area={area} />),
    ),
  );

  app.post(
    base,
    withSession(deps, area.access, async (request, reply, session) => {
      const form = PostedForm.of(request);
      const country = form.text('country', 8);
      const number = form.text('number', 64);
      try {
        const { phone } = await addPhone(deps, session, session.user, internationalNumber(country, number));
        if (phone.verified) {
          setFlash(request, reply, 'info', 'This phone is already registered and verified.');
          return reply.redirect(area.base === '/setup' ? '/setup/method' : '/profile', 303);
        }
        await sendVerificationPin(deps, session.user, phone.id);
        setFlash(
          request,
          reply,
          'success',
          `A text message with a 4-digit PIN was sent to ${formatPhoneNumber(phone.number)}.`,
        );
        return reply.redirect(`${base}/${phone.id}`, 303);
      } catch (error) {
        if (!(error instanceof ApiError) || (error.status >= 500 && error.status !== 503)) throw error;
        return sendPage(
          reply,
          <NewPhonePage
            ctx={pageContext(request, reply, session)}
            area={area}
            country={country}
            number={number}
            error={smsErrorText(error)}
          />,
          error.status,
        );
      }
    }),
  );

  const showVerify = async (
    request: FastifyRequest,
    reply: FastifyReply,
    session: PanelSession,
    phone: PhoneView,
    error?: string,
    status = 400,
  ) =>
    sendPage(
      reply,
      <VerifyPhonePage ctx={pageContext(request, reply, session)} area={area} phone={phone} error={error} />,
      error ? status : 200,
    );

  app.get(
    `${base}/:phoneId`,
    withSession(deps, area.access, async (request, reply, session) => {
      const phone = await getPhone(deps.db, session.user.id, phoneParam(request));
      if (!phone.verified) return showVerify(request, reply, session, phone);
      if (area.access === 'setup') return reply.redirect('/setup/method', 303);
      return sendPage(reply, <PhonePage ctx={pageContext(request, reply, session)} phone={phone} />);
    }),
  );

  app.post(
    `${base}/:phoneId/verify`,
    withSession(deps, area.access, async (request, reply, session) => {
      const form = PostedForm.of(request);
      const phone = await getPhone(deps.db, session.user.id, phoneParam(request));
      const pin = form.text('pin', 16).replace(/\s+/g, '');
      if (pin === '')
        return showVerify(request, reply, session, phone, 'Enter the PIN from the text message.');
      try {
        await verifyPhone(deps, session, session.user, phone.id, pin);
      } catch (error) {
        if (!(error instanceof ApiError) || error.reason !== 'wrong-pin') throw error;
        return showVerify(request, reply, session, phone, INVALID_PIN_TEXT);
      }
      return afterDeviceVerified(
        deps,
        area,
        request,
        reply,
        session,
        'SMS',
        form.checked('makeDefault'),
        `The phone ${formatPhoneNumber(phone.number)} is verified.`,
      );
    }),
  );

  app.post(
    `${base}/:phoneId/resend`,
    withSession(deps, area.access, async (request, reply, session) => {
      const phone = await getPhone(deps.db, session.user.id, phoneParam(request));
      try {
        await sendVerificationPin(deps, session.user, phone.id);
      } catch (error) {
        if (
          !(error instanceof ApiError) ||
          error.status < 400 ||
          (error.status >= 500 && error.status !== 503)
        )
          throw error;
        return showVerify(request, reply, session, phone, smsErrorText(error), error.status);
      }
      setFlash(request, reply, 'success', `A new PIN was sent to ${formatPhoneNumber(phone.number)}.`);
      return reply.redirect(`${base}/${phone.id}`, 303);
    }),
  );
}

export function registerSmsRoutes(app: FastifyInstance, deps: Deps): void {
  registerArea(app, deps, SETUP_AREA);
  registerArea(app, deps, PROFILE_AREA);

  app.post(
    '/profile/sms/:phoneId/delete',
    withSession(deps, 'full', async (request, reply, session) => {
      const phone = await getPhone(deps.db, session.user.id, phoneParam(request));
      try {
        await removePhone(deps, session, session.user, phone.id);
      } catch (error) {
        if (!(error instanceof ApiError) || error.reason !== 'phone-is-factor') throw error;
        setFlash(
          request,
          reply,
          'error',
          'Your phone is your default authentication method, so it cannot be deleted. Change the default method, or turn multi-factor authentication off, first.',
        );
        return reply.redirect('/profile', 303);
      }
      setFlash(request, reply, 'success', `The phone ${formatPhoneNumber(phone.number)} was deleted.`);
      return reply.redirect('/profile', 303);
    }),
  );
}
