import type { ComponentChildren } from 'preact';
import { Actions, Button, ButtonLink, Card, PostForm } from '../components.js';
import { Layout } from '../layout.js';
import type { PageContext } from '../render.js';

/** A verified authenticator or phone in My Profile & Settings: what it is, and its Delete. */
export function VerifiedDevicePage({
  ctx,
  title,
  heading,
  label,
  deleteAction,
  children,
}: {
  ctx: PageContext;
  title: string;
  heading: string;
  /** The device's name or number. */
  label: { term: string; value: ComponentChildren; class?: string };
  deleteAction: string;
  /** Extra notes under the details. */
  children?: ComponentChildren;
}) {
  return (
    <Layout ctx={ctx} title={title} width="narrow">
      <Card>
        <p class="lead">My Profile & Settings</p>
        <h1>{heading}</h1>
        <dl class="details">
          <dt>{label.term}</dt>
          <dd class={label.class}>{label.value}</dd>
          <dt>State</dt>
          <dd>
            <span class="badge badge-on">Verified</span>
          </dd>
        </dl>
        {children}
      </Card>
      <Actions>
        <PostForm ctx={ctx} action={deleteAction}>
          <Button kind="danger">Delete this device</Button>
        </PostForm>
        <ButtonLink href="/profile">Back to My Profile & Settings</ButtonLink>
      </Actions>
    </Layout>
  );
}
