import type { ComponentChildren } from 'preact';
import type { PageContext } from './render.js';
import type { FlashTone } from './session.js';

/**
 * A message box. Errors are announced at once (role=alert); success and information politely
 * (role=status), so a screen reader hears the outcome of the form just sent.
 */
export function Banner({ tone, children }: { tone: FlashTone; children: ComponentChildren }) {
  return (
    <div class={`banner banner-${tone}`} role={tone === 'error' ? 'alert' : 'status'}>
      {children}
    </div>
  );
}

/** A state-changing form: POST, with the CSRF token inside. */
export function PostForm({
  ctx,
  action,
  children,
  class: className,
  id,
}: {
  ctx: PageContext;
  action: string;
  children: ComponentChildren;
  class?: string;
  id?: string;
}) {
  return (
    <form method="post" action={action} class={className} id={id}>
      <input type="hidden" name="_csrf" value={ctx.csrfToken} />
      {children}
    </form>
  );
}

export interface FieldProps {
  name: string;
  label: string;
  /** Shown under the label and tied to the input with aria-describedby. */
  hint?: ComponentChildren;
  /** The field's error, tied to the input and flagged with aria-invalid. */
  error?: string | undefined;
  value?: string | undefined;
  type?: 'text' | 'password' | 'tel' | 'email' | 'search';
  autoComplete?: string;
  inputMode?: 'numeric' | 'tel' | 'email' | 'text';
  required?: boolean;
  maxLength?: number;
  pattern?: string;
  autoFocus?: boolean;
  size?: number;
  spellcheck?: boolean;
}

/** A labelled text input with its hint and error. */
export function TextField(props: FieldProps) {
  const id = `field-${props.name}`;
  const describedBy = [props.hint ? `${id}-hint` : '', props.error ? `${id}-error` : '']
    .filter(Boolean)
    .join(' ');
  return (
    <div class={`field${props.error ? ' field-invalid' : ''}`}>
      <label for={id}>{props.label}</label>
      {props.hint ? (
        <p class="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      ) : null}
      {props.error ? (
        <p class="field-error" id={`${id}-error`}>
          {props.error}
        </p>
      ) : null}
      <input
        id={id}
        name={props.name}
        // One input element serves every text-like type; the union only narrows `list` and `role`.
        type={(props.type ?? 'text') as 'text'}
        value={props.value}
        autoComplete={props.autoComplete}
        inputMode={props.inputMode}
        required={props.required}
        maxLength={props.maxLength}
        pattern={props.pattern}
        // biome-ignore lint/a11y/noAutofocus: single-task pages (sign-in, passcode) start in their one field
        autoFocus={props.autoFocus}
        size={props.size}
        spellcheck={props.spellcheck}
        aria-describedby={describedBy || undefined}
        aria-invalid={props.error ? 'true' : undefined}
      />
    </div>
  );
}

/**
 * A one-time code: digits only on phone keyboards, offered by the browser from an SMS, never
 * spell-checked. `pattern` is left to the server, which also takes bypass codes here.
 */
export function CodeField(props: Omit<FieldProps, 'type' | 'inputMode' | 'autoComplete'>) {
  return (
    <TextField {...props} type="text" inputMode="numeric" autoComplete="one-time-code" spellcheck={false} />
  );
}

export function Checkbox({
  name,
  label,
  checked,
  hint,
}: {
  name: string;
  label: string;
  checked?: boolean;
  hint?: string;
}) {
  const id = `field-${name}`;
  return (
    <div class="field field-check">
      <input
        type="checkbox"
        id={id}
        name={name}
        value="yes"
        checked={checked}
        aria-describedby={hint ? `${id}-hint` : undefined}
      />
      <label for={id}>{label}</label>
      {hint ? (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
    </div>
  );
}

export interface Option {
  value: string;
  label: string;
}

export function SelectField({
  name,
  label,
  options,
  value,
  hint,
  autoComplete,
  labelHidden = false,
}: {
  name: string;
  label: string;
  options: Option[];
  value?: string;
  hint?: string;
  autoComplete?: string;
  /** For screen readers only, where the label already stands beside the field (a setting's term). */
  labelHidden?: boolean;
}) {
  const id = `field-${name}`;
  return (
    <div class="field">
      <label for={id} class={labelHidden ? 'visually-hidden' : undefined}>
        {label}
      </label>
      {hint ? (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      <select
        id={id}
        name={name}
        autoComplete={autoComplete}
        aria-describedby={hint ? `${id}-hint` : undefined}
      >
        {options.map((option) => (
          <option key={option.value} value={option.value} selected={option.value === value}>
            {option.label}
          </option>
        ))}
      </select>
    </div>
  );
}

/** A group of radio buttons with a legend. */
export function RadioGroup({
  name,
  legend,
  options,
  value,
  legendHidden = false,
}: {
  name: string;
  legend: string;
  options: (Option & { hint?: string })[];
  value?: string;
  /** When the page's heading already says what the legend would (screen readers still hear it). */
  legendHidden?: boolean;
}) {
  return (
    <fieldset class="field radio-group">
      <legend class={legendHidden ? 'visually-hidden' : undefined}>{legend}</legend>
      {options.map((option) => {
        const id = `field-${name}-${option.value}`;
        return (
          <div class="radio" key={option.value}>
            <input
              type="radio"
              id={id}
              name={name}
              value={option.value}
              checked={option.value === value}
              required
              aria-describedby={option.hint ? `${id}-hint` : undefined}
            />
            <label for={id}>{option.label}</label>
            {option.hint ? (
              <p class="hint" id={`${id}-hint`}>
                {option.hint}
              </p>
            ) : null}
          </div>
        );
      })}
    </fieldset>
  );
}

export type ButtonKind = 'primary' | 'secondary' | 'danger' | 'link';

export function Button({
  kind = 'primary',
  children,
  name,
  value,
  formAction,
}: {
  kind?: ButtonKind;
  children: ComponentChildren;
  name?: string;
  value?: string;
  formAction?: string;
}) {
  return (
    <button type="submit" class={`button button-${kind}`} name={name} value={value} formAction={formAction}>
      {children}
    </button>
  );
}

/** A link styled as a button, for navigation (GET) actions. */
export function ButtonLink({
  href,
  kind = 'secondary',
  children,
}: {
  href: string;
  kind?: ButtonKind;
  children: ComponentChildren;
}) {
  return (
    <a class={`button button-${kind}`} href={href}>
      {children}
    </a>
  );
}

/** A titled section of a page. */
export function Card({
  title,
  children,
  headingLevel = 2,
  id,
}: {
  title?: string;
  children: ComponentChildren;
  headingLevel?: 1 | 2 | 3;
  id?: string;
}) {
  const Heading = `h${headingLevel}` as 'h2';
  const headingId = id ? `${id}-title` : undefined;
  return (
    <section class="card" id={id} aria-labelledby={title ? headingId : undefined}>
      {title ? <Heading id={headingId}>{title}</Heading> : null}
      {children}
    </section>
  );
}

export function Actions({ children }: { children: ComponentChildren }) {
  return <div class="actions">{children}</div>;
}

/**
 * The form that carries out a confirmed action: the danger button that does it, and Cancel back
 * to where the user came from. `children` are the form's hidden fields, if any.
 */
export function ConfirmForm({
  ctx,
  action,
  confirm,
  cancel,
  children,
}: {
  ctx: PageContext;
  action: string;
  confirm: string;
  cancel: string;
  children?: ComponentChildren;
}) {
  return (
    <PostForm ctx={ctx} action={action}>
      {children}
      <Actions>
        <Button kind="danger">{confirm}</Button>
        <ButtonLink href={cancel}>Cancel</ButtonLink>
      </Actions>
    </PostForm>
  );
}

/** The body of an "Are you sure?" page: what the action does, then its ConfirmForm. */
export function ConfirmCard({
  ctx,
  action,
  confirm,
  cancel,
  children,
}: {
  ctx: PageContext;
  action: string;
  confirm: string;
  cancel: string;
  children: ComponentChildren;
}) {
  return (
    <Card>
      {children}
      <ConfirmForm ctx={ctx} action={action} confirm={confirm} cancel={cancel} />
    </Card>
  );
}

/**
 * A secret shown once (a key, a generated password) and its Copy button, which the panel's
 * script reveals where the clipboard works. `shown` is how it reads (grouped, say); Copy copies
 * the secret itself.
 */
export function SecretToCopy({
  id,
  secret,
  shown = secret,
  copyLabel,
}: {
  id: string;
  secret: string;
  shown?: string;
  copyLabel: string;
}) {
  return (
    <>
      <p>
        <code class="secret-key" id={id} data-copy-text={secret}>
          {shown}
        </code>
      </p>
      <p>
        <button type="button" class="button button-secondary button-small" data-copy={id} hidden>
          {copyLabel}
        </button>
        <span id={`${id}-copied`} class="hint" role="status" />
      </p>
    </>
  );
}
