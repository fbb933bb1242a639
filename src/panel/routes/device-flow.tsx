import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ComponentChildren, VNode } from 'preact';
import { ApiError, type Reason } from '../../core/errors.js';
import type { FactorType } from '../../policy/enforcement.js';
import type { Deps } from '../../services/deps.js';
import { Actions, Button, ButtonLink, Checkbox, CodeField, PostForm } from '../components.js';
import { CardPage } from '../layout.js';
import { PostedForm } from '../posted-form.js';
import { type PageContext, pageContext, sendPage } from '../render.js';
import { type PanelSession, setFlash, withSession } from '../session.js';
import { type Area, afterDeviceVerified, PROFILE_AREA, SETUP_AREA } from './areas.js';

/** What the flow needs of any registered device. */
export interface RegisteredDevice {
  id: string;
  verified: boolean;
}

/** A refusal of the domain as a form shows it. */
export interface Refusal {
  text: string;
  status: number;
}

/** Where the flow goes once the device is registered. */
export type Started = { next: 'verify'; deviceId: string; flash?: string } | { next: 'home'; flash: string };

/**
 * One kind of multi-factor device in the panel: what is factor-specific in its flow. The flow
 * itself (the pages, their routes under /setup/<path> and /profile/<path>, CSRF, status codes,
 * the step after verification, Delete) is the same for every kind; a new kind of device is a new
 * value of this interface handed to `registerDeviceFlow`.
 */
export interface DeviceKind<Device extends RegisteredDevice, Draft> {
  /** The URL segment: `/setup/<path>/new`, `/profile/<path>/<id>`. */
  path: string;
  factor: FactorType;
  find(deps: Deps, userId: string, deviceId: string): Promise<Device>;

  /** Step 1: what the user gives to register the device. */
  start: {
    /** The page title, which is also its heading. */
    title: string;
    intro: ComponentChildren;
    submit: string;
    read(form: PostedForm): Draft;
    /** The form's fields, filled with what was posted after a refusal. */
    fields(draft: Draft | undefined, error: string | undefined): VNode;
    run(deps: Deps, session: PanelSession, draft: Draft): Promise<Started>;
    /** The refusal the form shows, or undefined where the error is not the user's to fix. */
    refusal(error: ApiError): Refusal | undefined;
  };

  /** Step 2: proving the device works, with a code it shows or receives. */
  verify: {
    title: string;
    heading: string;
    /** What the page says above the code field (async: it may need the device's secret). */
    intro(deps: Deps, userId: string, device: Device): Promise<ComponentChildren>;
    field: { name: string; label: string; maxLength: number; postedMax: number };
    submit(area: Area): string;
    /** The hint under "Make this my default authentication method". */
    defaultHint: string;
    emptyText: string;
    run(deps: Deps, session: PanelSession, device: Device, code: string): Promise<void>;
    /** A kind whose code is sent to the device offers to send it again. */
    resend?: {
      run(deps: Deps, session: PanelSession, device: Device): Promise<void>;
      refusal(error: ApiError): Refusal | undefined;
      sentText(device: Device): string;
    };
  };

  /** The page of a verified device in My Profile & Settings. */
  manage: {
    title(device: Device): string;
    heading: string;
    label(device: Device): { term: string; value: ComponentChildren; class?: string };
    note?: ComponentChildren;
  };

  /** Delete, from the profile. */
  remove(deps: Deps, session: PanelSession, device: Device): Promise<void>;
  /**
   * The panel's words for the domain's refusals of a code or a delete (a wrong or expired code,
   * the last device of the default method), by the domain's reason. Any other error is not the
   * user's to fix: the error page shows it.
   */
  refusalTexts: Readonly<Partial<Record<Reason, string>>>;
  /** The device in a sentence: "authenticator “Work phone”", "phone +1 201-555-0123". */
  describe(device: Device): string;
}

/** The verify step's forms: the code, the default-method choice, and Resend where the kind sends codes. */
function VerifyForms({
  ctx,
  area,
  page,
  field,
  submitLabel,
  defaultHint,
  resend,
  error,
}: {
  ctx: PageContext;
  area: Area;
  /** The device's page; the forms post to it + /verify and /resend. */
  page: string;
  field: { name: string; label: string; maxLength: number };
  submitLabel: string;
  defaultHint: string;
  resend: boolean;
  error: string | undefined;
}) {
  const back = <ButtonLink href={area.home}>{area.backLabel}</ButtonLink>;
  const submit = <Button>{submitLabel}</Button>;
  return (
    <>
      <PostForm ctx={ctx} action={`${page}/verify`}>
        <CodeField name={field.name} label={field.label} error={error} required maxLength={field.maxLength} />
        {area.access === 'full' ? (
          <Checkbox
            name="makeDefault"
            label="Make this my default authentication method"
            checked
            hint={defaultHint}
          />
        ) : null}
        {resend ? (
          submit
        ) : (
          <Actions>
            {submit}
            {back}
          </Actions>
        )}
      </PostForm>
      {resend ? (
        <PostForm ctx={ctx} action={`${page}/resend`} class="secondary-form">
          <p class="hint">Did not get the text message?</p>
          <Actions>
            <Button kind="secondary">Resend PIN</Button>
            {back}
          </Actions>
        </PostForm>
      ) : null}
    </>
  );
}

const deviceParam = (request: FastifyRequest) =>
  (request.params as { deviceId: string }).deviceId.slice(0, 64);

/** An error the form shows, or the error itself again (a 5xx, a bug: the error page's). */
function refusalOr<T>(error: unknown, read: (error: ApiError) => T | undefined): T {
  const refusal = error instanceof ApiError ? read(error) : undefined;
  if (refusal === undefined) throw error;
  return refusal;
}

function registerArea<Device extends RegisteredDevice, Draft>(
  app: FastifyInstance,
  deps: Deps,
  kind: DeviceKind<Device, Draft>,
  area: Area,
): void {
  const base = `${area.base}/${kind.path}`;
  const { start, verify } = kind;
  const refusalText = (error: ApiError) => (error.reason ? kind.refusalTexts[error.reason] : undefined);

  const showNew = (
    request: FastifyRequest,
    reply: FastifyReply,
    session: PanelSession,
    draft?: Draft,
    refusal?: Refusal,
  ) => {
    const ctx = pageContext(request, reply, session);
    return sendPage(
      reply,
      <CardPage ctx={ctx} lead={area.flow} title={start.title}>
        {start.intro}
        <PostForm ctx={ctx} action={base}>
          {start.fields(draft, refusal?.text)}
          <Actions>
            <Button>{start.submit}</Button>
            <ButtonLink href={area.home}>Cancel</ButtonLink>
          </Actions>
        </PostForm>
      </CardPage>,
      refusal?.status ?? 200,
    );
  };

  const showVerify = async (
    request: FastifyRequest,
    reply: FastifyReply,
    session: PanelSession,
    device: Device,
    refusal?: Refusal,
  ) => {
    const ctx = pageContext(request, reply, session);
    const intro = await verify.intro(deps, session.user.id, device);
    return sendPage(
      reply,
      <CardPage ctx={ctx} lead={area.flow} title={verify.title} heading={verify.heading}>
        {intro}
        <VerifyForms
          ctx={ctx}
          area={area}
          page={`${base}/${device.id}`}
          field={verify.field}
          submitLabel={verify.submit(area)}
          defaultHint={verify.defaultHint}
          resend={verify.resend !== undefined}
          error={refusal?.text}
        />
      </CardPage>,
      refusal?.status ?? 200,
    );
  };

  app.get(
    `${base}/new`,
    withSession(deps, area.access, async (request, reply, session) => showNew(request, reply, session)),
  );

  app.post(
    base,
    withSession(deps, area.access, async (request, reply, session) => {
      const draft = start.read(PostedForm.of(request));
      let started: Started;
      try {
        started = await start.run(deps, session, draft);
      } catch (error) {
        return showNew(request, reply, session, draft, refusalOr(error, start.refusal));
      }
      if (started.next === 'home') {
        setFlash(request, reply, 'info', started.flash);
        return reply.redirect(area.home, 303);
      }
      if (started.flash) setFlash(request, reply, 'success', started.flash);
      return reply.redirect(`${base}/${started.deviceId}`, 303);
    }),
  );

  app.get(
    `${base}/:deviceId`,
    withSession(deps, area.access, async (request, reply, session) => {
      const device = await kind.find(deps, session.user.id, deviceParam(request));
      if (!device.verified) return showVerify(request, reply, session, device);
      if (area.access === 'setup') return reply.redirect(area.home, 303);
      const ctx = pageContext(request, reply, session);
      const label = kind.manage.label(device);
      return sendPage(
        reply,
        <CardPage
          ctx={ctx}
          lead="My Profile & Settings"
          title={kind.manage.title(device)}
          heading={kind.manage.heading}
          after={
            <Actions>
              <PostForm ctx={ctx} action={`/profile/${kind.path}/${device.id}/delete`}>
                <Button kind="danger">Delete Device</Button>
              </PostForm>
              <ButtonLink href="/profile">Back to My Profile & Settings</ButtonLink>
            </Actions>
          }
        >
          <dl class="details">
            <dt>{label.term}</dt>
            <dd class={label.class}>{label.value}</dd>
            <dt>State</dt>
            <dd>
              <span class="badge badge-on">Verified</span>
            </dd>
          </dl>
          {kind.manage.note}
        </CardPage>,
      );
    }),
  );

  app.post(
    `${base}/:deviceId/verify`,
    withSession(deps, area.access, async (request, reply, session) => {
      const form = PostedForm.of(request);
      const device = await kind.find(deps, session.user.id, deviceParam(request));
      const code = form.text(verify.field.name, verify.field.postedMax).replace(/\s+/g, '');
      if (code === '')
        return showVerify(request, reply, session, device, { text: verify.emptyText, status: 400 });
      try {
        await verify.run(deps, session, device, code);
      } catch (error) {
        const text = refusalOr(error, refusalText);
        return showVerify(request, reply, session, device, { text, status: 400 });
      }
      return afterDeviceVerified(
        deps,
        area,
        request,
        reply,
        session,
        kind.factor,
        form.checked('makeDefault'),
        `The ${kind.describe(device)} is verified.`,
      );
    }),
  );

  const resend = verify.resend;
  if (resend)
    app.post(
      `${base}/:deviceId/resend`,
      withSession(deps, area.access, async (request, reply, session) => {
        const device = await kind.find(deps, session.user.id, deviceParam(request));
        try {
          await resend.run(deps, session, device);
        } catch (error) {
          return showVerify(request, reply, session, device, refusalOr(error, resend.refusal));
        }
        setFlash(request, reply, 'success', resend.sentText(device));
        return reply.redirect(`${base}/${device.id}`, 303);
      }),
    );
}

/** The routes of one kind of device: its flow in the forced setup and in the profile, and Delete. */
export function registerDeviceFlow<Device extends RegisteredDevice, Draft>(
  app: FastifyInstance,
  deps: Deps,
  kind: DeviceKind<Device, Draft>,
): void {
  registerArea(app, deps, kind, SETUP_AREA);
  registerArea(app, deps, kind, PROFILE_AREA);

  app.post(
    `/profile/${kind.path}/:deviceId/delete`,
    withSession(deps, 'full', async (request, reply, session) => {
      const device = await kind.find(deps, session.user.id, deviceParam(request));
      try {
        await kind.remove(deps, session, device);
      } catch (error) {
        setFlash(
          request,
          reply,
          'error',
          refusalOr(error, (refused) => (refused.reason ? kind.refusalTexts[refused.reason] : undefined)),
        );
        return reply.redirect('/profile', 303);
      }
      setFlash(request, reply, 'success', `The ${kind.describe(device)} was deleted.`);
      return reply.redirect('/profile', 303);
    }),
  );
}
