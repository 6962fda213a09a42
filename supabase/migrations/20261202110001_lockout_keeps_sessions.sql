-- The password lockout no longer ends the victim's sessions, nor tells a stranger that the
-- account exists and is locked (issue 10, findings 9 and 12).
--
-- Before, the fifth wrong password answered should_logout_user = true, so anyone who knew a
-- staff member's email could sign them out of every device by typing five wrong passwords,
-- and "Account locked ..." told that stranger the account existed. Now the sign-in is locked
-- exactly as before (5 consecutive failures, 15 minutes, even the right password refused,
-- an admin unlocks it with rpc/unlock_login), but the existing sessions stay, and a locked
-- account is refused with Supabase Auth's own answer for a wrong password
-- ("Invalid login credentials"), the same for an unknown email.
create or replace function private.password_verification_hook(event jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    max_failures constant integer := 5;
    lock_for constant interval := interval '15 minutes';
    subject uuid := (event ->> 'user_id')::uuid;
    attempt private.login_attempts;
    -- Supabase Auth's message for a wrong password: a lockout must not read differently.
    refusal constant jsonb := jsonb_build_object(
        'decision', 'reject',
        'message', 'Invalid login credentials',
        'should_logout_user', false
    );
begin
    insert into private.login_attempts as a (user_id) values (subject)
    on conflict on constraint login_attempts_pkey do update set user_id = a.user_id
    returning * into attempt;

    if attempt.locked_until > now() then
        return refusal;
    end if;

    if (event ->> 'valid')::boolean then
        update private.login_attempts as a
        set failed_count = 0, last_failed_at = null, locked_until = null
        where a.user_id = subject;
        return jsonb_build_object('decision', 'continue');
    end if;

    update private.login_attempts as a
    set failed_count = case when a.locked_until is not null then 1 else a.failed_count + 1 end,
        last_failed_at = now(),
        locked_until = null
    where a.user_id = subject
    returning * into attempt;

    if attempt.failed_count >= max_failures then
        update private.login_attempts as a
        set locked_until = now() + lock_for, failed_count = 0
        where a.user_id = subject;
        return refusal;
    end if;
    -- Supabase Auth answers the wrong password itself.
    return jsonb_build_object('decision', 'continue');
end;
$$;

comment on function private.password_verification_hook(jsonb) is
'Supabase Auth password verification hook: 5 consecutive failures lock the password sign-in for 15 minutes '
'(refused as "Invalid login credentials", like a wrong password); existing sessions are never ended.';
